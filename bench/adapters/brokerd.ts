// brokerd through its own TypeScript SDK, used exactly as the README shows a user:
// connect / submit / submitMany / consume({ concurrency }) / result / watch.

import { connect } from '../../clients/index.js'
import type { SubmitOptions } from '../../clients/types.js'
import type {
  BenchHandler,
  BenchPayload,
  ConsumerHandle,
  Endpoint,
  ProducerClient,
  SubmitHints,
  SystemAdapter,
  WatcherHandle,
} from '../adapter.js'
import { now } from '../clock.js'

function url(ep: Endpoint): string {
  if (!ep.url) throw new Error('brokerd endpoint without url')
  return ep.url
}

/** Priority numbers for the bench's two levels (higher runs first). */
const PRIORITY = { high: 10, low: 0 } as const

/** The submit options for hints (result/watch hints are irrelevant: brokerd always keeps both). */
function optionsOf(hints: SubmitHints | undefined, payload?: BenchPayload): SubmitOptions {
  const o: SubmitOptions = {}
  if (hints?.runAt !== undefined) o.runAt = hints.runAt
  if (hints?.priority !== undefined && payload !== undefined) o.priority = PRIORITY[hints.priority(payload)]
  return o
}

async function connectProducer(ep: Endpoint): Promise<ProducerClient> {
  const broker = await connect(url(ep))
  return {
    submit: async (queue, payload, hints) => (await broker.submit(queue, payload, optionsOf(hints, payload))).id,
    submitMany: async (queue, payloads, hints) => {
      if (hints?.priority === undefined) return (await broker.submitMany(queue, payloads, optionsOf(hints))).ids
      // submitMany's options apply to every job: one batch per priority, sent together.
      const by = { high: [] as number[], low: [] as number[] }
      payloads.forEach((p, i) => by[hints.priority!(p)].push(i))
      const ids = new Array<string>(payloads.length)
      await Promise.all(
        (['high', 'low'] as const).map(async (level) => {
          if (by[level].length === 0) return
          const r = await broker.submitMany(
            queue,
            by[level].map((i) => payloads[i]),
            { ...optionsOf(hints), priority: PRIORITY[level] },
          )
          by[level].forEach((i, k) => (ids[i] = r.ids[k]))
        }),
      )
      return ids
    },
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

async function countOf(ep: Endpoint, queue: string, state: 'queued' | 'delayed'): Promise<number> {
  const broker = await connect(url(ep))
  try {
    return (await broker.stats(queue)).queues[queue]?.[state] ?? 0
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
    queuedCount: (ep, queue) => countOf(ep, queue, 'queued'),
    delayedCount: (ep, queue) => countOf(ep, queue, 'delayed'),
  }
}
