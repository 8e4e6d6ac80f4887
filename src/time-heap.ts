// A min-heap of (due time, id, tag) in parallel typed arrays: 18 bytes an entry and no object per
// entry, so a million delayed jobs cost ~18 MB. Ties on the due time pop in id order (FIFO by
// submission). Used by each queue actor for its delayed jobs and by the broker's Scheduler.

export class TimeHeap {
  private due: Float64Array
  private ids: Float64Array
  private tags: Int16Array
  private count = 0

  constructor(capacity = 64) {
    this.due = new Float64Array(capacity)
    this.ids = new Float64Array(capacity)
    this.tags = new Int16Array(capacity)
  }

  get size(): number {
    return this.count
  }

  /** Due time of the earliest entry, Infinity when empty. */
  get topDue(): number {
    return this.count === 0 ? Infinity : this.due[0]
  }

  get topId(): number {
    return this.ids[0]
  }

  get topTag(): number {
    return this.tags[0]
  }

  push(due: number, id: number, tag = 0): void {
    if (this.count === this.due.length) this.grow()
    let i = this.count++
    // Sift up: move parents down until the new entry's place is found.
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(due, id, this.due[parent], this.ids[parent])) break
      this.set(i, this.due[parent], this.ids[parent], this.tags[parent])
      i = parent
    }
    this.set(i, due, id, tag)
  }

  /** Removes the earliest entry (read it first with topDue / topId / topTag). */
  pop(): void {
    if (this.count === 0) return
    const last = --this.count
    if (last === 0) return
    const due = this.due[last]
    const id = this.ids[last]
    const tag = this.tags[last]
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= last) break
      if (child + 1 < last && this.before(this.due[child + 1], this.ids[child + 1], this.due[child], this.ids[child])) child++
      if (!this.before(this.due[child], this.ids[child], due, id)) break
      this.set(i, this.due[child], this.ids[child], this.tags[child])
      i = child
    }
    this.set(i, due, id, tag)
  }

  /** Visits every entry in no particular order (for listings). */
  forEach(visit: (due: number, id: number, tag: number) => void): void {
    for (let i = 0; i < this.count; i++) visit(this.due[i], this.ids[i], this.tags[i])
  }

  private before(dueA: number, idA: number, dueB: number, idB: number): boolean {
    return dueA < dueB || (dueA === dueB && idA < idB)
  }

  private set(i: number, due: number, id: number, tag: number): void {
    this.due[i] = due
    this.ids[i] = id
    this.tags[i] = tag
  }

  private grow(): void {
    const size = this.due.length * 2
    const due = new Float64Array(size)
    const ids = new Float64Array(size)
    const tags = new Int16Array(size)
    due.set(this.due)
    ids.set(this.ids)
    tags.set(this.tags)
    this.due = due
    this.ids = ids
    this.tags = tags
  }
}
