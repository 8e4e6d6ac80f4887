// brokerd through its own TypeScript SDK, used exactly as the README shows a user:
// connect / submit / submitMany / consume({ concurrency }) / result / watch.

import { connect } from '../../clients/index.js'
import type { BenchHandler, BenchPayload, ConsumerHandle, Endpoint, ProducerClient, SystemAdapter, WatcherHandle } from '../adapter.js'
import { now } from '../clock.js'

function url(ep: Endpoint): string {
  if (!ep.url) throw new Error('brokerd endpoint without url')
  return ep.url
}

async function connectProducer(ep: Endpoint): Promise<ProducerClient> {
  const broker = await connect(url(ep))
  return {
    // SubmitHints are irrelevant here: brokerd always stores the result and publishes job events.
    submit: async (queue, payload) => (await broker.submit(queue, payload)).id,
    submitMany: async (queue, payloads) => (await broker.submitMany(queue, payloads)).ids,
    result: (id, timeoutMs) => broker.result(id, { timeoutMs }),
    submitAndWait: (queue, payload, timeoutMs) => broker.run(queue, payload, { timeoutMs }),
    close: () => broker.close(),
  }
}

/** One connection (one WebSocket) with one consumer of credit = concurrency. */
async function consume(ep: Endpoint, queue: string, handler: BenchHandler, concurrency: number): Promise<ConsumerHandle> {
  const broker = await connect(url(ep))
  const worker = broker.consume<BenchPayload>(queue, (job) => handler(job.payload, job.id), { concurrency })
  // A round trip after consume() so the consumer is registered before the producer starts.
  await broker.ping()
  return {
    async close() {
      await worker.close()
      await broker.close()
    },
  }
}

/** One connection per watcher, each calling watch(id): first item is the snapshot. */
async function watch(ep: Endpoint, _queue: string, id: string): Promise<WatcherHandle> {
  const broker = await connect(url(ep))
  let resolveReady!: () => void
  let rejectReady!: (e: unknown) => void
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)))
  const done = (async () => {
    try {
      for await (const ev of broker.watch(id)) {
        if (ev.type === 'snapshot') resolveReady()
        if (ev.state === 'completed') return now()
        if (ev.state === 'failed') throw new Error(`job ${id} failed`)
      }
      throw new Error(`watch of ${id} ended without a result`)
    } catch (e) {
      rejectReady(e)
      throw e
    }
  })()
  done.catch(() => {}) // observed by the caller via `done`; avoid an unhandled rejection meanwhile
  return { ready, done, close: () => broker.close() }
}

async function queuedCount(ep: Endpoint, queue: string): Promise<number | undefined> {
  const broker = await connect(url(ep))
  try {
    return (await broker.stats(queue)).queues[queue]?.queued ?? 0
  } finally {
    await broker.close()
  }
}

export function createBrokerdAdapter(name: 'brokerd-normal' | 'brokerd-strict'): SystemAdapter {
  return {
    name,
    semantics: 'at-least-once',
    batchNote: 'submitMany',
    connectProducer,
    consume,
    watch,
    queuedCount,
  }
}
