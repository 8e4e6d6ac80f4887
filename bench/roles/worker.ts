// Worker role: runs `connections` consumers × `concurrency` with a no-op handler and keeps score.
// It detects lost and duplicate jobs with a bitmap over the payload index and times each handler start.

import { priorityOf, type ConsumerHandle } from '../adapter.js'
import { now, withTimeout } from '../clock.js'
import { summarize, type LatencySummary } from '../stats.js'
import { adapterFor, type Target } from './common.js'

export interface WorkerStart extends Target {
  connections: number
  concurrency: number
  /** Jobs with payload index 0..expected-1 are counted; waitDone resolves when all were seen. */
  expected: number
  /** W8: jobs of two priorities (even index high): per-connection order is kept to count inversions. */
  priorities?: boolean
}

export interface WorkerStats {
  expected: number
  distinct: number
  duplicates: number
  /** clock.now() of the first handler start and of the last handler return. */
  firstStartAt: number
  lastReturnAt: number
  /** submit → handler start, ms (from the timestamp in the payload). */
  startLatency: LatencySummary
  lastStartAt: number
  /** Starts before the instant given to setNotBefore() (W6). */
  early: number
  /**
   * W8: per consumer connection, low-priority jobs received before the last high-priority one it
   * received, summed (0 = strict priority order on every connection).
   */
  inversions: number
  /** W8: submit → start of high / low priority jobs. */
  highLatency?: LatencySummary
  lowLatency?: LatencySummary
}

let consumers: ConsumerHandle[] = []
let seen = new Uint8Array(0)
/** Submit → start of job i (first start), valid where seen[i]. */
let lat = new Float64Array(0)
let distinct = 0
let duplicates = 0
let expected = 0
let firstStartAt = NaN
let lastReturnAt = NaN
let onAll: (() => void) | undefined
let lastStartAt = NaN
let early = 0
let notBefore = -Infinity
/** W8: the priority of each job each connection received, in order (1 = high). */
let orders: number[][] = []
let prioritised = false

export async function start(a: WorkerStart): Promise<void> {
  const adapter = await adapterFor(a.system)
  expected = a.expected
  seen = new Uint8Array(expected)
  lat = new Float64Array(expected)
  distinct = duplicates = early = 0
  firstStartAt = lastReturnAt = lastStartAt = NaN
  notBefore = -Infinity
  prioritised = a.priorities === true
  orders = Array.from({ length: a.connections }, () => [])
  const all = new Promise<void>((r) => (onAll = r))
  void all
  const handlerOf = (connection: number) => (p: { i: number; t: number }) => {
    const t = now()
    if (Number.isNaN(firstStartAt)) firstStartAt = t
    lastStartAt = t
    if (t < notBefore) early++
    if (prioritised) orders[connection].push(priorityOf(p) === 'high' ? 1 : 0)
    if (p.i >= 0 && p.i < expected) {
      if (seen[p.i]) duplicates++
      else {
        seen[p.i] = 1
        lat[p.i] = t - p.t
        if (++distinct === expected) onAll?.()
      }
    }
    // "ack time" for W4: the last thing the handler does before handing its result back.
    lastReturnAt = now()
    return { ok: true, i: p.i }
  }
  consumers = await Promise.all(
    Array.from({ length: a.connections }, (_, k) =>
      adapter.consume(a.endpoint, a.queue, handlerOf(k), a.concurrency, { priorities: prioritised }),
    ),
  )
}

/**
 * W6: handler starts before `at` (clock.now()) count as early from now on. Set after start(), once
 * the workers are connected, because the workload picks its instant only then.
 */
export function setNotBefore(a: { at: number }): void {
  notBefore = a.at
}

/**
 * Resolves when `count` (default: all expected) distinct jobs were handled, or rejects at the
 * timeout. W5 passes the count the restarted broker reported, so lost jobs end the wait early.
 */
export async function waitDone(a: { timeoutMs: number; count?: number }): Promise<WorkerStats> {
  const target = Math.min(a.count ?? expected, expected)
  if (distinct < target) {
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (distinct >= target) {
            clearInterval(check)
            resolve()
          }
        }, 5)
        check.unref()
        const prev = onAll
        onAll = () => {
          prev?.()
          clearInterval(check)
          resolve()
        }
      }),
      a.timeoutMs,
      `worker: ${target} jobs expected`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}, handled ${distinct} distinct (${duplicates} duplicates)`)
    })
  }
  return stats()
}

export function stats(): WorkerStats {
  let inversions = 0
  for (const order of orders) {
    const lastHigh = order.lastIndexOf(1)
    for (let k = 0; k < lastHigh; k++) if (order[k] === 0) inversions++
  }
  const out: WorkerStats = {
    expected,
    distinct,
    duplicates,
    firstStartAt,
    lastReturnAt,
    startLatency: summarize(latencies(() => true)),
    lastStartAt,
    early,
    inversions,
  }
  if (prioritised) {
    out.highLatency = summarize(latencies((i) => priorityOf({ i }) === 'high'))
    out.lowLatency = summarize(latencies((i) => priorityOf({ i }) === 'low'))
  }
  return out
}

/** Start latencies of the jobs handled whose index passes `pick`. */
function latencies(pick: (i: number) => boolean): number[] {
  const out: number[] = []
  for (let i = 0; i < expected; i++) if (seen[i] === 1 && pick(i)) out.push(lat[i])
  return out
}

export async function stop(): Promise<void> {
  await Promise.all(consumers.map((c) => c.close()))
  consumers = []
}
