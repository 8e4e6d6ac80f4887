// Plain Redis lists, the way most teams hand-roll a queue: LPUSH + BRPOP worker loops, results
// pushed to a reply list per producer, PUBLISH for watchers. At-most-once: a job popped by a worker that dies is gone.

import { Redis } from 'ioredis'
import type {
  BenchHandler,
  BenchPayload,
  ConsumeOptions,
  ConsumerHandle,
  Endpoint,
  ProducerClient,
  SubmitHints,
  SystemAdapter,
  WatcherHandle,
} from '../adapter.js'
import { now } from '../clock.js'
import { ReplyRouter } from '../reply-router.js'

/** What travels in the list: the job id is made by the producer since Redis has no job ids. */
interface Envelope {
  id: string
  /** Reply list to LPUSH the result to (only when somebody waits for it). */
  r?: string
  /** PUBLISH the result on doneChannel(id) (only when somebody watches). */
  w?: 1
  d: BenchPayload
}

const queueKey = (q: string) => `bench:q:${q}`
/** Priorities the way Redis users do them: a second list, BRPOP'd first. */
const highKey = (q: string) => `bench:q:${q}:high`
const keyFor = (q: string, hints: SubmitHints | undefined, p: BenchPayload) =>
  hints?.priority !== undefined && hints.priority(p) === 'high' ? highKey(q) : queueKey(q)
const doneChannel = (id: string) => `bench:done:${id}`

function client(ep: Endpoint): Redis {
  // maxRetriesPerRequest: null = never fail a queued command while (re)connecting, the usual
  // setting for worker loops.
  return new Redis({ host: ep.host, port: ep.port, maxRetriesPerRequest: null })
}

let producerSeq = 0

class RedisListsProducer implements ProducerClient {
  private readonly cmd: Redis
  private blk: Redis | undefined
  private readonly name = `${process.pid}.${producerSeq++}`
  private readonly replyKey = `bench:reply:${this.name}`
  private seq = 0
  private closed = false
  /** Results that arrived before anybody asked for them. */
  private readonly replies = new ReplyRouter('redis-lists')

  constructor(private readonly ep: Endpoint) {
    this.cmd = client(ep)
  }

  private envelope(payload: BenchPayload, hints?: SubmitHints): Envelope {
    const env: Envelope = { id: `${this.name}:${this.seq++}`, d: payload }
    if (hints?.wantResult) {
      env.r = this.replyKey
      this.startReplyLoop()
    }
    if (hints?.watched) env.w = 1
    return env
  }

  async submit(queue: string, payload: BenchPayload, hints?: SubmitHints): Promise<string> {
    const env = this.envelope(payload, hints)
    await this.cmd.lpush(keyFor(queue, hints, payload), JSON.stringify(env))
    return env.id
  }

  /** One variadic LPUSH per batch: atomic, one round trip (Redis' native batch). */
  async submitMany(queue: string, payloads: BenchPayload[], hints?: SubmitHints): Promise<string[]> {
    const envs = payloads.map((p) => this.envelope(p, hints))
    if (hints?.priority === undefined) await this.cmd.lpush(queueKey(queue), ...envs.map((e) => JSON.stringify(e)))
    else {
      // One LPUSH per list, in one MULTI: still atomic and one round trip.
      const high: string[] = []
      const low: string[] = []
      for (const e of envs) (hints.priority(e.d) === 'high' ? high : low).push(JSON.stringify(e))
      const m = this.cmd.multi()
      if (high.length > 0) m.lpush(highKey(queue), ...high)
      if (low.length > 0) m.lpush(queueKey(queue), ...low)
      await m.exec()
    }
    return envs.map((e) => e.id)
  }

  async prepare(): Promise<void> {
    this.startReplyLoop()
    await this.blk!.ping()
  }

  /** One blocking connection per producer reads its reply list; results are routed by job id. */
  private startReplyLoop(): void {
    if (this.blk) return
    const blk = (this.blk = client(this.ep))
    void (async () => {
      while (!this.closed) {
        let r: [string, string] | null
        try {
          // 1 s timeout only so that close() is noticed; an idle loop costs one command per second.
          r = await blk.brpop(this.replyKey, 1)
        } catch (e) {
          if (this.closed) return
          throw e
        }
        if (!r) continue
        const { id, res } = JSON.parse(r[1]) as { id: string; res: unknown }
        this.replies.deliver(id, res)
      }
    })()
  }

  result(id: string, timeoutMs: number): Promise<unknown> {
    return this.replies.wait(id, timeoutMs)
  }

  async close(): Promise<void> {
    this.closed = true
    this.blk?.disconnect()
    await this.cmd.quit().catch(() => this.cmd.disconnect())
  }
}

/**
 * `concurrency` BRPOP loops, each on its own connection: BRPOP blocks its connection, so this is
 * how concurrency is done with plain lists (a W3 worker with 4 × 16 therefore holds 64 connections).
 */
async function consume(
  ep: Endpoint,
  queue: string,
  handler: BenchHandler,
  concurrency: number,
  opts?: ConsumeOptions,
): Promise<ConsumerHandle> {
  let closed = false
  const keys = opts?.priorities === true ? [highKey(queue), queueKey(queue)] : [queueKey(queue)]
  const conns: Redis[] = []
  const loops: Promise<void>[] = []
  for (let c = 0; c < concurrency; c++) {
    const r = client(ep)
    conns.push(r)
    loops.push(
      (async () => {
        while (!closed) {
          let item: [string, string] | null
          try {
            item = await r.brpop(...keys, 1)
          } catch (e) {
            if (closed) return
            throw e
          }
          if (!item) continue
          const env = JSON.parse(item[1]) as Envelope
          // From here on the job exists only in this process: a crash now loses it (at-most-once).
          const res = await handler(env.d, env.id)
          if (env.r) await r.lpush(env.r, JSON.stringify({ id: env.id, res }))
          if (env.w) await r.publish(doneChannel(env.id), JSON.stringify(res))
        }
      })(),
    )
  }
  await Promise.all(conns.map((c) => c.ping()))
  return {
    async close() {
      closed = true
      for (const c of conns) c.disconnect()
      await Promise.allSettled(loops)
    },
  }
}

/** One subscriber connection per watcher, as with a typical "pub/sub → WebSocket hub" setup. */
async function watch(ep: Endpoint, _queue: string, id: string): Promise<WatcherHandle> {
  const sub = client(ep)
  let resolveDone!: (t: number) => void
  const done = new Promise<number>((r) => (resolveDone = r))
  sub.on('message', () => resolveDone(now()))
  const ready = sub.subscribe(doneChannel(id)).then(() => undefined)
  return { ready, done, close: async () => sub.disconnect() }
}

async function queuedCount(ep: Endpoint, queue: string): Promise<number> {
  const r = client(ep)
  try {
    return await r.llen(queueKey(queue))
  } finally {
    r.disconnect()
  }
}

export const redisListsAdapter: SystemAdapter = {
  name: 'redis-lists',
  semantics: 'at-most-once',
  batchNote: 'variadic LPUSH',
  connectProducer: async (ep) => {
    const p = new RedisListsProducer(ep)
    return p
  },
  consume,
  watch,
  queuedCount,
}
