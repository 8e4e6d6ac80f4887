// Routes results that arrive on a shared reply channel (a Redis list, a beanstalkd tube) to the
// caller waiting for that job id; a result that arrives before anyone waits is kept until asked.

export class ReplyRouter {
  private readonly early = new Map<string, unknown>()
  private readonly waiters = new Map<string, (v: unknown) => void>()

  constructor(private readonly system: string) {}

  /** A result came in for job `id`. */
  deliver(id: string, result: unknown): void {
    const w = this.waiters.get(id)
    if (w) {
      this.waiters.delete(id)
      w(result)
    } else this.early.set(id, result)
  }

  /** Resolves with job `id`'s result; rejects after timeoutMs. */
  wait(id: string, timeoutMs: number): Promise<unknown> {
    if (this.early.has(id)) {
      const v = this.early.get(id)
      this.early.delete(id)
      return Promise.resolve(v)
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(id)
        reject(new Error(`${this.system}: no result for ${id} after ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.set(id, (v) => {
        clearTimeout(t)
        resolve(v)
      })
    })
  }
}
