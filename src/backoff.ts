// Retry backoff: how long a failed delivery waits before the job is queued again. Pure functions,
// so that the policy is tested without a broker. Jitter takes a random share off each wait.

import { Limits } from '../protocol/ops.js'
import type { Backoff } from '../protocol/shapes.js'

export type { Backoff }

/**
 * The wait before retry number `retry` (1 for the retry after the first failed delivery).
 * `random` is injectable for tests.
 */
export function backoffDelay(b: Backoff | null, retry: number, random: () => number = Math.random): number {
  if (b === null) return 0
  let wait = b.delayMs
  if (b.type === 'exponential') {
    const cap = b.maxDelayMs ?? Limits.maxDelayMs
    // 2^(retry-1) overflows to Infinity for huge retry numbers; the cap bounds it either way.
    wait = Math.min(cap, b.delayMs * Math.pow(2, Math.max(0, retry - 1)))
  }
  wait = Math.min(wait, Limits.maxDelayMs)
  if (b.jitter !== undefined && b.jitter > 0) wait = wait * (1 - b.jitter * random())
  return Math.max(0, Math.round(wait))
}
