// Worker role: runs `connections` consumers × `concurrency` with a no-op handler and keeps score.
// It detects lost and duplicate jobs with a bitmap over the payload index and times each handler start.

import type { ConsumerHandle } from '../adapter.js'
import { now, withTimeout } from '../clock.js'
import { summarize, type LatencySummary } from '../stats.js'
import { adapterFor, type Target } from './common.js'

export interface WorkerStart extends Target {
  connections: number
  concurrency: number
  /** Jobs with payload index 0..expected-1 are counted; waitDone resolves when all were seen. */
  expected: number
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
}

let consumers: ConsumerHandle[] = []
let seen = new Uint8Array(0)
let lat = new Float64Array(0)
let distinct = 0
let duplicates = 0
let expected = 0
let firstStartAt = NaN
let lastReturnAt = NaN
let onAll: (() => void) | undefined

export async function start(a: WorkerStart): Promise<void> {
  const adapter = await adapterFor(a.system)
  expected = a.expected
  seen = new Uint8Array(expected)
  lat = new Float64Array(expected)
  distinct = duplicates = 0
  firstStartAt = lastReturnAt = NaN
  const all = new Promise<void>((r) => (onAll = r))
  void all
  const handler = (p: { i: number; t: number }) => {
    const t = now()
    if (Number.isNaN(firstStartAt)) firstStartAt = t
    if (p.i >= 0 && p.i < expected) {
      if (seen[p.i]) duplicates++
      else {
        seen[p.i] = 1
        lat[distinct++] = t - p.t
        if (distinct === expected) onAll?.()
      }
    }
    // "ack time" for W4: the last thing the handler does before handing its result back.
    lastReturnAt = now()
    return { ok: true, i: p.i }
  }
  consumers = await Promise.all(Array.from({ length: a.connections }, () => adapter.consume(a.endpoint, a.queue, handler, a.concurrency)))
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
  return {
    expected,
    distinct,
    duplicates,
    firstStartAt,
    lastReturnAt,
    startLatency: summarize(Array.from(lat.subarray(0, distinct))),
  }
}

export async function stop(): Promise<void> {
  await Promise.all(consumers.map((c) => c.close()))
  consumers = []
}
