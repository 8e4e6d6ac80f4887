// A growable ring buffer: O(1) push/shift at both ends with no per-item allocation. Used for the
// ready queue of each QueueActor (a backlog of a million jobs is one array, not a linked list).

export class Deque<T> {
  private items: Array<T | undefined>
  private head = 0
  private count = 0
  private mask: number

  constructor(capacityPow2 = 16) {
    this.items = new Array(capacityPow2)
    this.mask = capacityPow2 - 1
  }

  get length(): number {
    return this.count
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow()
    this.items[(this.head + this.count) & this.mask] = item
    this.count++
  }

  /** Puts an item in front (a job going back to the head of its queue). */
  unshift(item: T): void {
    if (this.count === this.items.length) this.grow()
    this.head = (this.head - 1) & this.mask
    this.items[this.head] = item
    this.count++
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.count--
    return item
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head]
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & this.mask] as T
  }

  private grow(): void {
    const old = this.items
    const size = old.length * 2
    const next = new Array<T | undefined>(size)
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask]
    this.items = next
    this.head = 0
    this.mask = size - 1
  }
}
