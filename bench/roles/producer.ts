// Producer role: submits jobs the way each workload prescribes and times it on the producer side.
// Sequential submit → result (W1), many concurrent clients (W2), bulk throughput (W3b, W3s), one
// awaited submit at a time (W3a), backlog fill (W5).

import { makePayload, priorityOf, type BenchPayload, type ProducerClient, type SubmitHints } from '../adapter.js'
import { now } from '../clock.js'
import { summarize, type LatencySummary } from '../stats.js'
import { adapterFor, type Target } from './common.js'

/** How W1 / W2 wait for a job's result. */
export interface WaitArgs {
  timeoutMs: number
  /**
   * true (W1r, W2r): the system's one-call submit-and-wait where it has one (brokerd's run()).
   * false (W1, W2), and always for systems without one: submit(), then result(id).
   */
  oneCall: boolean
}

async function submitAndWait(c: ProducerClient, queue: string, payload: BenchPayload, w: WaitArgs): Promise<unknown> {
  if (w.oneCall && c.submitAndWait !== undefined) return c.submitAndWait(queue, payload, w.timeoutMs)
  return c.result(await c.submit(queue, payload, { wantResult: true }), w.timeoutMs)
}

/** W1: one client, one job at a time; returns submit → result latencies (ms) of measured jobs. */
export async function sequential(a: Target & WaitArgs & { n: number; warmup: number }): Promise<number[]> {
  const adapter = await adapterFor(a.system)
  const c = await adapter.connectProducer(a.endpoint)
  try {
    await c.prepare?.(a.queue)
    const lat: number[] = []
    for (let i = 0; i < a.warmup + a.n; i++) {
      const t0 = now()
      await submitAndWait(c, a.queue, makePayload(i, t0), a)
      if (i >= a.warmup) lat.push(now() - t0)
    }
    return lat
  } finally {
    await c.close()
  }
}

/**
 * W2: `clients` separate connections in this process; each submits its share of the jobs one at
 * a time and waits for each result; all clients run at once. Payload indexes: 0..clients-1 are
 * the warm-up jobs, then the measured ones.
 */
export async function clients(a: Target & WaitArgs & { clients: number; jobs: number }): Promise<{ totalMs: number; latencies: number[] }> {
  const adapter = await adapterFor(a.system)
  const cs = await Promise.all(Array.from({ length: a.clients }, () => adapter.connectProducer(a.endpoint)))
  try {
    await Promise.all(cs.map((c) => c.prepare?.(a.queue)))
    const latencies: number[] = []
    let next = 0
    // One untimed warm-up job per client: lazy setup (BullMQ's QueueEvents, reply loops) is not
    // what this workload measures.
    await Promise.all(cs.map((c) => submitAndWait(c, a.queue, makePayload(next++, now()), a)))
    const t0 = now()
    await Promise.all(
      cs.map(async (c, k) => {
        // Client k takes jobs k, k+clients, ...: shares differ by at most one job.
        for (let i = k; i < a.jobs; i += a.clients) {
          const t = now()
          await submitAndWait(c, a.queue, makePayload(next++, t), a)
          latencies.push(now() - t)
        }
      }),
    )
    return { totalMs: now() - t0, latencies }
  } finally {
    await Promise.all(cs.map((c) => c.close()))
  }
}

export interface SubmitTiming {
  firstSubmitAt: number
  lastAckAt: number
}

/**
 * W3 / W5: submits payloads 0..n-1.
 * batched: submitMany in chunks of `chunk`, one chunk in flight (await each: what a user writes).
 * single: one submit() per job with at most `window` unacknowledged (a sliding window), so the
 * client pipelines requests the way its library allows without an unbounded promise pile.
 */
export interface BulkArgs extends Target {
  n: number
  batched: boolean
  chunk: number
  window: number
  /** Every job delayed to this time (W6, W7). */
  runAt?: number
  /** Even payload indexes high priority, odd ones low (W8). */
  mixedPriority?: boolean
}

export async function bulk(a: BulkArgs): Promise<SubmitTiming> {
  const adapter = await adapterFor(a.system)
  const c = await adapter.connectProducer(a.endpoint)
  const hints: SubmitHints | undefined =
    a.runAt === undefined && !a.mixedPriority ? undefined : { runAt: a.runAt, priority: a.mixedPriority ? priorityOf : undefined }
  try {
    const firstSubmitAt = now()
    if (a.batched) await submitBatched(c, a, hints)
    else await submitWindowed(c, a, hints)
    return { firstSubmitAt, lastAckAt: now() }
  } finally {
    await c.close()
  }
}

async function submitBatched(c: ProducerClient, a: Target & { n: number; chunk: number }, hints: SubmitHints | undefined): Promise<void> {
  if (!c.submitMany) throw new Error(`${a.system} has no batch submit`)
  for (let start = 0; start < a.n; start += a.chunk) {
    const t = now()
    const payloads = []
    for (let i = start; i < Math.min(a.n, start + a.chunk); i++) payloads.push(makePayload(i, t))
    const ids = await c.submitMany(a.queue, payloads, hints)
    if (ids.length !== payloads.length) throw new Error(`submitMany returned ${ids.length} ids for ${payloads.length} jobs`)
  }
}

async function submitWindowed(c: ProducerClient, a: Target & { n: number; window: number }, hints: SubmitHints | undefined): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < a.n) {
      const i = next++
      await c.submit(a.queue, makePayload(i, now()), hints)
    }
  }
  await Promise.all(Array.from({ length: Math.min(a.window, a.n) }, lane))
}

export interface SerialTiming extends SubmitTiming {
  /** Round trip of each submit() call as the producer awaits it, ms. */
  submit: LatencySummary
}

/**
 * W3a: submits payloads 0..n-1 with `await submit()` in a plain loop, one in flight: the code an
 * API handler that enqueues one job per request writes.
 */
export async function serial(a: Target & { n: number }): Promise<SerialTiming> {
  const adapter = await adapterFor(a.system)
  const c = await adapter.connectProducer(a.endpoint)
  try {
    const roundTrips: number[] = []
    const firstSubmitAt = now()
    for (let i = 0; i < a.n; i++) {
      const t = now()
      await c.submit(a.queue, makePayload(i, t))
      roundTrips.push(now() - t)
    }
    const lastAckAt = now()
    return { firstSubmitAt, lastAckAt, submit: summarize(roundTrips) }
  } finally {
    await c.close()
  }
}

/** W4: one job that watchers will follow; returns its id. */
export async function submitOne(a: Target): Promise<string> {
  const adapter = await adapterFor(a.system)
  const c = await adapter.connectProducer(a.endpoint)
  try {
    return await c.submit(a.queue, makePayload(0, now()), { watched: true })
  } finally {
    await c.close()
  }
}

/** Queue length as the system reports it (W5 recovery check). */
export async function queued(a: Target): Promise<number | undefined> {
  const adapter = await adapterFor(a.system)
  return adapter.queuedCount?.(a.endpoint, a.queue)
}

/** Jobs delayed in the queue as the system reports it (W7 recovery check). */
export async function delayed(a: Target): Promise<number | undefined> {
  const adapter = await adapterFor(a.system)
  return adapter.delayedCount?.(a.endpoint, a.queue)
}
