// Entries of a queue's lines (ready deque, delayed heap) whose job left by cancel or remove:
// removing from the middle would cost a scan, so they are skipped when reached. Counted per id:
// a job retried after a cancel is in line again while its old entry still waits to be skipped.

export class StaleEntries {
  private ids: Map<number, number> | null = null
  /** Stale entries still in the line (the line's live length is its length minus this). */
  count = 0

  /** True when nothing is stale (the hot path checks this first). */
  get empty(): boolean {
    return this.ids === null
  }

  mark(jobId: number): void {
    this.ids ??= new Map()
    this.ids.set(jobId, (this.ids.get(jobId) ?? 0) + 1)
    this.count++
  }

  /** True (and one stale entry of `jobId` used up) when the entry just taken from the line is stale. */
  take(jobId: number): boolean {
    const ids = this.ids
    if (ids === null) return false
    const n = ids.get(jobId)
    if (n === undefined) return false
    if (n === 1) ids.delete(jobId)
    else ids.set(jobId, n - 1)
    this.count--
    if (ids.size === 0) this.ids = null
    return true
  }

  /** How many entries of `jobId` are stale (0 for most). */
  of(jobId: number): number {
    return this.ids?.get(jobId) ?? 0
  }
}
