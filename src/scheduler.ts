// The broker's one timer: wakes queue actors at the due times they ask for (delayed jobs coming
// due, retries after their backoff, submits waiting for room timing out). One setTimeout for the
// earliest due time of all, never one per job, and nothing polls the store.

import { TimeHeap } from './time-heap.js'

/** setTimeout's longest delay (~24.8 days); a later due time re-arms when this one fires. */
const MAX_TIMER_MS = 2_147_483_647

export class Scheduler {
  private readonly heap = new TimeHeap(64)
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerDue = Infinity
  private stopped = false

  /** `wake(id, now)` is called once per due entry; a woken owner asks again for its next time. */
  constructor(private readonly wake: (id: number, now: number) => void) {}

  /**
   * Wakes `id` at `due` (ms since epoch) or as soon after as the event loop allows. Extra or
   * outdated entries are harmless: a woken owner with nothing due simply asks again.
   */
  at(due: number, id: number): void {
    if (this.stopped) return
    this.heap.push(due, id)
    if (due < this.timerDue) this.arm(due)
  }

  private arm(due: number): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerDue = due
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, due - Date.now())))
  }

  private readonly fire = (): void => {
    this.timer = null
    this.timerDue = Infinity
    const now = Date.now()
    const heap = this.heap
    // Take what is due first: what the wakes ask for now (a queue with more to do) is for the next
    // turn, after this one's frames went out.
    const due: number[] = []
    while (heap.size > 0 && heap.topDue <= now) {
      due.push(heap.topId)
      heap.pop()
    }
    for (const id of due) this.wake(id, now)
    if (heap.size > 0 && this.timer === null && !this.stopped) this.arm(heap.topDue)
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}
