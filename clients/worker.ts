// consume(): runs a handler per delivered job, acks its result or nacks its error, and extends
// leases while handlers run. The broker enforces the credit; after a reconnect the credit is
// lowered by the handlers still running from the lost connection, so concurrency is never exceeded.

import { decodeValue, encodeValue } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { Op } from '../protocol/ops.js'
import type { Connection } from './connection.js'
import { JobCancelledError } from './errors.js'
import { errorInfo, nackOptions } from './wire.js'
import type { ConsumeOptions, Handler, Job, JobContext, Worker } from './types.js'

/**
 * Thrown by a handler (or any error with `retry = false`): the job ends `failed` now, without
 * using its remaining attempts (a bad input will not get better by running it again). Any thrown
 * error with a numeric `retryAfterMs` retries after that long instead of the job's backoff.
 */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError'
  readonly retry = false
}

/** How often the lease timer looks at running handlers, for a lease of `leaseMs`. */
const leaseCheckEvery = (leaseMs: number): number => Math.max(50, Math.min(1000, Math.floor(leaseMs / 6)))

/** One running handler. */
class Running implements Job, JobContext {
  readonly id: string
  private controller: AbortController | null = null
  /** Why the delivery was lost (the signal's abort reason); null while it is held. */
  private lostReason: unknown = null
  /** Cancelled while running: the broker keeps its credit until we say the handler ended. */
  revoked = false
  /** When to send the next lease extension (local clock). */
  extendAt: number
  /** When the lease ends by the local clock, unless extended: the handler's signal aborts then. */
  localDeadline: number

  constructor(
    private readonly worker: WorkerImpl,
    readonly jobId: number,
    readonly queue: string,
    readonly payload: unknown,
    readonly attempt: number,
    public leaseDeadline: number,
    readonly leaseMs: number,
    /** Connection generation that delivered it; a newer one means the lease is gone. */
    readonly gen: number,
  ) {
    this.id = String(jobId)
    const now = Date.now()
    this.extendAt = now + leaseMs / 3
    this.localDeadline = now + leaseMs
  }

  get lost(): boolean {
    return this.lostReason !== null
  }

  /** Created on first use only: most handlers never look at it. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController()
    if (this.lost && !this.controller.signal.aborted) this.controller.abort(this.lostReason)
    return this.controller.signal
  }

  lose(reason: unknown): void {
    if (this.lost) return
    this.lostReason = reason ?? new Error('lost')
    this.controller?.abort(reason)
  }

  progress(value: unknown): void {
    this.worker.send(this, (w) => w.array(5).uint(Op.progress).uint(0).uint(this.jobId).uint(this.attempt).bin(encodeValue(value)))
  }

  async extend(ms: number): Promise<void> {
    this.worker.send(this, (w) => w.array(5).uint(Op.extend).uint(0).uint(this.jobId).uint(this.attempt).uint(ms))
    const now = Date.now()
    this.extendAt = now + ms / 3
    this.localDeadline = now + ms
  }
}

export class WorkerImpl implements Worker {
  private readonly active = new Map<number, Running>()
  /** Handlers still running from a previous connection: they hold concurrency but no credit. */
  private orphans = 0
  private closing: Promise<void> | null = null
  private idle: (() => void) | null = null
  private extendTimer: ReturnType<typeof setInterval> | null = null
  /** The lease timer's period: that of the shortest lease seen since it started. */
  private timerEvery = 0
  private registeredGen = -1
  private readonly concurrencyMax: number
  private concurrency: number

  constructor(
    private readonly broker: Connection,
    readonly id: number,
    private readonly queues: string[],
    private readonly handler: Handler,
    private readonly opts: ConsumeOptions,
  ) {
    this.concurrency = opts.concurrency ?? 1
    this.concurrencyMax = broker.limits.maxCredit
  }

  get running(): number {
    return this.active.size + this.orphans
  }

  private get credit(): number {
    return Math.max(0, Math.min(this.concurrencyMax, this.concurrency - this.orphans))
  }

  /** (Re)registers the consumer on the current connection. */
  register(): void {
    if (this.closing !== null || this.registeredGen === this.broker.gen) return
    this.registeredGen = this.broker.gen
    const credit = this.credit
    this.broker
      .internalRequest((w, rid) => {
        w.array(6).uint(Op.consume).uint(rid).uint(this.id).array(this.queues.length)
        for (const q of this.queues) w.str(q)
        w.uint(credit)
        if (this.opts.leaseMs !== undefined) w.value({ leaseMs: this.opts.leaseMs })
        else w.nil()
      })
      .catch(() => {}) // a lost connection re-registers on reconnect; a refusal is reported by onError
  }

  setConcurrency(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError('concurrency must be a non-negative integer')
    this.concurrency = n
    this.sendCredit()
  }

  private sendCredit(): void {
    if (this.closing !== null || this.registeredGen !== this.broker.gen) return
    const credit = this.credit
    this.broker.internalRequest((w, rid) => w.array(4).uint(Op.credit).uint(rid).uint(this.id).uint(credit)).catch(() => {})
  }

  onDeliver(m: unknown[]): void {
    const leaseMs = (m[7] as number | undefined) ?? this.broker.limits.leaseMs
    const run = new Running(
      this,
      m[2] as number,
      m[3] as string,
      decodeValue(m[4] as Uint8Array),
      m[5] as number,
      m[6] as number,
      leaseMs,
      this.broker.gen,
    )
    this.active.set(run.jobId, run)
    if (this.extendTimer === null || leaseCheckEvery(leaseMs) < this.timerEvery) this.startLeaseTimer(leaseMs)
    let outcome: unknown
    try {
      outcome = this.handler(run, run)
    } catch (err) {
      return this.finish(run, false, err)
    }
    if (outcome !== null && typeof (outcome as PromiseLike<unknown> | undefined)?.then === 'function') {
      ;(outcome as PromiseLike<unknown>).then(
        (result) => this.finish(run, true, result),
        (err) => this.finish(run, false, err),
      )
    } else this.finish(run, true, outcome)
  }

  private finish(run: Running, ok: boolean, value: unknown): void {
    if (run.revoked && run.gen === this.broker.gen) {
      // Cancelled while running: the result is not kept, but the broker holds this handler's
      // credit until told it ended (its answer, lease_expired, is expected and dropped).
      this.active.delete(run.jobId)
      this.broker
        .internalRequest((w, rid) => w.array(6).uint(Op.nack).uint(rid).uint(run.jobId).uint(run.attempt).nil().nil())
        .catch(() => {})
    } else if (run.gen === this.broker.gen && !run.lost) {
      this.send(run, (w) => {
        if (ok) w.array(5).uint(Op.ack).uint(0).uint(run.jobId).uint(run.attempt).bin(encodeValue(value))
        else {
          w.array(6)
            .uint(Op.nack)
            .uint(0)
            .uint(run.jobId)
            .uint(run.attempt)
            .bin(encodeValue(errorInfo(value)))
          // UnrecoverableError (retry = false) fails the job at once; retryAfterMs sets the wait.
          const opts = nackOptions(value)
          if (opts === null) w.nil()
          else w.value(opts)
        }
      })
      this.active.delete(run.jobId)
    } else if (this.active.get(run.jobId) === run) {
      this.active.delete(run.jobId)
    } else {
      // Its connection is gone: the broker already released the job; give the credit back.
      this.orphans--
      this.sendCredit()
    }
    // The lease timer keeps running while idle (one wake-up per lease/6): creating and clearing
    // it per job cost 8 µs of a 1-job-at-a-time worker's time (profiled).
    if (this.running === 0) this.idle?.()
  }

  /** Writes a message about a running job, if its delivery is still held. */
  send(run: Running, write: (w: NonNullable<Connection['writer']>) => void): void {
    if (run.lost || run.gen !== this.broker.gen) return
    const w = this.broker.writer
    if (w === null) return
    write(w)
    this.broker.schedule()
  }

  /** One timer per worker (none per job): extends leases, or aborts handlers whose lease ran out. */
  private startLeaseTimer(leaseMs: number): void {
    this.stopLeaseTimer()
    const every = (this.timerEvery = leaseCheckEvery(leaseMs))
    const autoExtend = this.opts.autoExtend !== false
    this.extendTimer = setInterval(() => {
      const now = Date.now()
      for (const run of this.active.values()) {
        if (run.lost) continue
        if (autoExtend && now >= run.extendAt) void run.extend(run.leaseMs)
        else if (now >= run.localDeadline)
          run.lose(new BrokerError('lease_expired', `the lease of job ${run.id} ended before the handler did`, run.jobId))
      }
    }, every)
  }

  private stopLeaseTimer(): void {
    if (this.extendTimer !== null) clearInterval(this.extendTimer)
    this.extendTimer = null
  }

  /** The broker refused a settlement for this job: its lease is gone. */
  onLeaseLost(jobId: number): void {
    this.active.get(jobId)?.lose(new BrokerError('lease_expired', `the broker no longer holds job ${jobId} for this worker`, jobId))
  }

  /** The job was cancelled while its handler runs: abort the handler; its outcome is dropped. */
  onRevoke(jobId: number, attempt: number): void {
    const run = this.active.get(jobId)
    if (run === undefined || run.attempt !== attempt) return
    run.revoked = true
    run.lose(new JobCancelledError(run.id))
  }

  /** The connection dropped: every running handler's delivery is lost (the broker requeues it). */
  connectionLost(): void {
    const lost = new BrokerError('connection_lost', 'the connection to the broker closed; the broker releases the job')
    for (const run of this.active.values()) {
      run.lose(lost)
      this.orphans++
    }
    this.active.clear()
    this.registeredGen = -1
    this.stopLeaseTimer()
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.registeredGen === this.broker.gen) {
        await this.broker.internalRequest((w, rid) => w.array(3).uint(Op.stop).uint(rid).uint(this.id)).catch(() => {})
      }
      if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve))
      this.stopLeaseTimer()
      this.broker.dropWorker(this)
      // Let the last acks leave in this turn's frame before resolving.
      await new Promise((r) => setTimeout(r, 0))
    })()
    return this.closing
  }
}
