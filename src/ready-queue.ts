// A queue's ready jobs in dispatch order: higher priority first, FIFO within one priority. One
// deque per priority in use ("bucket queue": O(1) push and shift, no comparisons); a queue whose
// jobs all have priority 0 uses one deque and never looks at the others.

import { Deque } from './deque.js'

interface Bucket<T> {
  priority: number
  items: Deque<T>
}

export class ReadyQueue<T> {
  /** Priority 0: the common case, also the only bucket until another priority is used. */
  private readonly base: Deque<T>
  /** Every bucket, highest priority first; null while only priority 0 was ever used. */
  private buckets: Array<Bucket<T>> | null = null
  private count = 0

  constructor(capacityPow2 = 1024) {
    this.base = new Deque<T>(capacityPow2)
  }

  get length(): number {
    return this.count
  }

  push(item: T, priority: number): void {
    this.count++
    if (priority === 0) this.base.push(item)
    else this.bucket(priority).push(item)
  }

  /** The next item to dispatch: the oldest of the highest priority that has any. */
  shift(): T | undefined {
    if (this.count === 0) return undefined
    this.count--
    const buckets = this.buckets
    if (buckets === null) return this.base.shift()
    for (let i = 0; i < buckets.length; i++) if (buckets[i].items.length !== 0) return buckets[i].items.shift()
    return undefined // unreachable: count said an item exists
  }

  /** Visits every item with its priority, in dispatch order. */
  forEach(visit: (item: T, priority: number) => void): void {
    const buckets = this.buckets ?? [{ priority: 0, items: this.base }]
    for (const b of buckets) for (const item of b.items) visit(item, b.priority)
  }

  private bucket(priority: number): Deque<T> {
    if (this.buckets === null) this.buckets = [{ priority: 0, items: this.base }]
    const buckets = this.buckets
    let i = 0
    while (i < buckets.length && buckets[i].priority > priority) i++
    if (i < buckets.length && buckets[i].priority === priority) return buckets[i].items
    const items = new Deque<T>(64)
    buckets.splice(i, 0, { priority, items })
    return items
  }
}
