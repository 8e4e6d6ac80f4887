// A small async-iterator queue: producers push, one consumer `for await`s. Backs watch(): events
// that arrive before the consumer asks are buffered; `end()` and `fail()` finish the iteration.

export class QueuedIterator<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = []
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null
  private done = false
  private error: unknown = null
  /** Called once when the iteration ends for any reason (consumer break, end, fail). */
  onFinish: () => void = () => {}

  push(item: T): void {
    if (this.done) return
    if (this.waiter !== null) {
      const w = this.waiter
      this.waiter = null
      w.resolve({ value: item, done: false })
    } else this.items.push(item)
  }

  end(): void {
    this.finish(null)
  }

  fail(err: unknown): void {
    this.finish(err)
  }

  get finished(): boolean {
    return this.done
  }

  private finish(err: unknown): void {
    if (this.done) return
    this.done = true
    this.error = err
    this.onFinish()
    if (this.waiter !== null && this.items.length === 0) {
      const w = this.waiter
      this.waiter = null
      if (err !== null) w.reject(err)
      else w.resolve({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false })
    if (this.done) {
      if (this.error !== null) {
        const err = this.error
        this.error = null
        return Promise.reject(err)
      }
      return Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject }
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0
    this.finish(null)
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this
  }
}
