// Entry point of every child process the orchestrator forks (producer, worker, watcher roles).
// It answers RPC-style IPC messages {id, method, args} with {id, ok, value|error}.

import * as producer from './roles/producer.js'
import * as watcher from './roles/watcher.js'
import * as worker from './roles/worker.js'

type Fn = (args: never) => unknown
const methods: Record<string, Fn> = {
  'worker.start': worker.start,
  'worker.waitDone': worker.waitDone,
  'worker.setNotBefore': worker.setNotBefore,
  'worker.stats': worker.stats,
  'worker.stop': worker.stop,
  'producer.sequential': producer.sequential,
  'producer.clients': producer.clients,
  'producer.bulk': producer.bulk,
  'producer.serial': producer.serial,
  'producer.submitOne': producer.submitOne,
  'producer.queued': producer.queued,
  'producer.delayed': producer.delayed,
  'watcher.setup': watcher.setup,
  'watcher.collect': watcher.collect,
  'watcher.close': watcher.close,
}

export interface RpcRequest {
  id: number
  method: string
  args: unknown
}
export type RpcReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

if (!process.send) {
  console.error('bench/role.js is started by bench/run.js (it needs an IPC channel)')
  process.exit(2)
}

process.on('message', (msg: RpcRequest) => {
  const fn = methods[msg.method]
  void (async () => {
    try {
      if (!fn) throw new Error(`unknown method ${msg.method}`)
      const value = await fn(msg.args as never)
      process.send!({ id: msg.id, ok: true, value } satisfies RpcReply)
    } catch (e) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e)
      process.send!({ id: msg.id, ok: false, error } satisfies RpcReply)
    }
  })()
})

// The orchestrator going away (crash, Ctrl-C) must take us with it: no stray load generators.
process.on('disconnect', () => process.exit(0))
