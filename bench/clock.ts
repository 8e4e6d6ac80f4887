// One clock for all bench processes: wall-clock milliseconds with sub-ms resolution.
// performance.timeOrigin is the wall-clock start of each process, so values compare across processes.

/**
 * Milliseconds since the Unix epoch, with microsecond resolution.
 * Date.now() alone is too coarse (1 ms) for sub-millisecond latencies; performance.now() alone
 * is per-process. Their sum is comparable between processes on the same machine (within the
 * clock's sub-ms skew), which is what cross-process latencies (submit in the producer, handler
 * start in the worker) need.
 */
export function now(): number {
  return performance.timeOrigin + performance.now()
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Rejects with a labelled error after ms; the timer does not keep the process alive. */
export function withTimeout<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${label}: timed out after ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}
