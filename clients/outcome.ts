// The end of one job as a promise, for result() and run(): a watch sink that settles on the
// job's terminal event. No async iterator, AbortController or timer unless the caller asked for
// a timeout or a signal, because these calls sit on every serial caller's path (issue 10).

import { BrokerError } from '../protocol/errors.js'
import { JobCancelledError, JobFailedError } from './errors.js'
import type { WatchEvent } from './types.js'
import type { WatchSink } from './watch-stream.js'

export class Outcome<R> implements WatchSink {
  readonly promise: Promise<R>
  finished = false
  onFinish: () => void = () => {}
  private settled = false
  private resolve!: (v: R) => void
  private reject!: (e: unknown) => void
  private timer: ReturnType<typeof setTimeout> | null = null
  private readonly signal: AbortSignal | undefined
  private readonly onAbort = () => this.fail(new BrokerError('aborted', 'the watch was aborted'))

  /** `what` names the job in errors ("job 42"; run() starts with "the job" until it has an id). */
  constructor(
    public what: string,
    opts: { timeoutMs?: number; signal?: AbortSignal },
  ) {
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.signal = opts.signal
    if (this.signal?.aborted) {
      this.onAbort()
      return
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true })
    const ms = opts.timeoutMs
    if (ms !== undefined)
      this.timer = setTimeout(() => this.fail(new BrokerError('timeout', `${this.what} did not finish within ${ms} ms`)), ms)
  }

  /** Settles on a terminal event; the stream calls end() right after it. */
  push(ev: WatchEvent): void {
    if (this.settled) return
    if (ev.type === 'removed') this.settle(new BrokerError('not_found', `job ${ev.id} was removed`, Number(ev.id)))
    else if (ev.state === 'completed') {
      this.release()
      this.resolve(ev.result as R)
    } else if (ev.state === 'failed') this.settle(new JobFailedError(ev.id, ev.error))
    else if (ev.state === 'cancelled') this.settle(new JobCancelledError(ev.id))
  }

  end(): void {
    this.finish(new BrokerError('internal', `the watch of ${this.what} ended without a terminal state`))
  }

  fail(err: unknown): void {
    this.finish(err)
  }

  /** Ends the watch; rejects with `err` unless a terminal event settled the promise already. */
  private finish(err: unknown): void {
    if (this.finished) return
    this.finished = true
    this.onFinish()
    this.settle(err)
  }

  private settle(err: unknown): void {
    if (this.settled) return
    this.release()
    this.reject(err)
  }

  private release(): void {
    this.settled = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.signal?.removeEventListener('abort', this.onAbort)
  }
}
