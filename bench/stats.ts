// Pure statistics helpers used by every workload and by the report.
// No I/O, no clocks: easy to unit-test and to trust.

/** Sorted copy (ascending), so callers never have their arrays reordered behind their back. */
export function sorted(xs: readonly number[]): number[] {
  return Float64Array.from(xs).sort() as unknown as number[]
}

/**
 * Percentile by the nearest-rank method on a sorted array (p in 0..100).
 * Nearest-rank never invents a value that was not measured, which keeps tail numbers honest.
 */
export function percentileSorted(s: ArrayLike<number>, p: number): number {
  if (s.length === 0) return NaN
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]
}

export function percentile(xs: readonly number[], p: number): number {
  return percentileSorted(sorted(xs), p)
}

export function median(xs: readonly number[]): number {
  const s = sorted(xs.filter((x) => Number.isFinite(x)))
  if (s.length === 0) return NaN
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  let sum = 0
  for (const x of xs) sum += x
  return sum / xs.length
}

// Loops rather than Math.min(...xs): spreading a million-element array overflows the stack.
export function min(xs: readonly number[]): number {
  let m = NaN
  for (const x of xs) if (Number.isFinite(x) && !(x >= m)) m = x
  return m
}

export function max(xs: readonly number[]): number {
  let m = NaN
  for (const x of xs) if (Number.isFinite(x) && !(x <= m)) m = x
  return m
}

export interface LatencySummary {
  n: number
  avg: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** The latency block every workload reports (ms). */
export function summarize(xs: readonly number[]): LatencySummary {
  const s = sorted(xs)
  return {
    n: s.length,
    avg: mean(xs),
    p50: percentileSorted(s, 50),
    p90: percentileSorted(s, 90),
    p99: percentileSorted(s, 99),
    max: s.length ? s[s.length - 1] : NaN,
  }
}

/** Median and range of one metric over several runs. */
export interface Spread {
  median: number
  min: number
  max: number
  n: number
}

export function spread(xs: readonly number[]): Spread {
  const f = xs.filter((x) => Number.isFinite(x))
  return { median: median(f), min: min(f), max: max(f), n: f.length }
}
