// QueueActor owns all state of one queue: the ready jobs, the parked consumers and the leases out.
// It is the only code that changes them, and every job transition goes through lifecycle.ts.
// Invariants: a job is in exactly one of `ready` or `leased` while unfinished; a consumer never
// holds more than its credit; a parked consumer has credit and waits in FIFO order (fairness).

import { Deque } from './deque.js'
import { JobRef } from './job.js'
import type { Consumer } from './consumer.js'
import { transition, failureOutcome, type EventType, type LifecycleEvent, type Transition } from './lifecycle.js'
import type { Store } from './store.js'
import { encodeStr } from '../protocol/codec.js'

/** What an actor uses from the broker around it (injected; see Broker). */
export interface ActorContext {
  readonly store: Store
  readonly defaultLeaseMs: number
  readonly defaultRetentionMs: number
  /** Publishes a job event to its watchers after the turn's commit. */
  emit(job: JobRef, type: EventType, data: Uint8Array | null): void
  /** A consumer got credit back: feed it from its queues in priority order, or park it. */
  serve(consumer: Consumer): void
  /** Payload cache budget shared by all queues. */
  cacheTake(bytes: number): boolean
  cacheRelease(bytes: number): void
}

export class QueueActor {
  /** The queue name as a ready-made MessagePack str, written into every delivery. */
  readonly nameBytes: Uint8Array
  private readonly ready = new Deque<JobRef>(1024)
  private readonly waiting = new Deque<Consumer>(16)
  private readonly leased = new Map<number, JobRef>()
  consumers = 0
  completed = 0
  failed = 0

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly ctx: ActorContext,
  ) {
    this.nameBytes = encodeStr(name)
  }

  get queuedCount(): number {
    return this.ready.length
  }

  get activeCount(): number {
    return this.leased.size
  }

  /** A leased (active) job by id, for settlement checks and snapshots. */
  leasedJob(id: number): JobRef | undefined {
    return this.leased.get(id)
  }

  /** Puts a recovered job back at start-up (no store write, no event). */
  restore(job: JobRef): void {
    this.ready.push(job)
  }

  /**
   * A committed-this-turn job enters the queue: handed to the longest-waiting consumer at once
   * (blocking pop), else kept ready. `payload` is only valid during this call unless cached.
   */
  enqueue(job: JobRef, payload: Uint8Array | null): void {
    const consumer = this.nextWaiting()
    if (consumer !== null) {
      this.dispatch(job, consumer, payload)
      if (consumer.ready) this.park(consumer, consumer.actors.indexOf(this))
      return
    }
    if (payload !== null && job.payload === null && this.ctx.cacheTake(payload.length)) {
      job.payload = Uint8Array.prototype.slice.call(payload) as Uint8Array
    }
    this.ready.push(job)
  }

  /** Delivers ready jobs to `consumer` while it has credit; returns whether it still has some. */
  pull(consumer: Consumer): boolean {
    while (consumer.ready) {
      const job = this.ready.shift()
      if (job === undefined) return true
      this.dispatch(job, consumer, null)
    }
    return false
  }

  /** Parks a consumer with credit at the back of the waiting list (once per actor). */
  park(consumer: Consumer, index: number): void {
    const bit = 1 << index
    if ((consumer.parkedMask & bit) !== 0) return
    consumer.parkedMask |= bit
    this.waiting.push(consumer)
  }

  /** The longest-waiting consumer that can take a job now; stale entries are dropped here. */
  private nextWaiting(): Consumer | null {
    while (this.waiting.length > 0) {
      const consumer = this.waiting.shift() as Consumer
      consumer.parkedMask &= ~(1 << consumer.actors.indexOf(this))
      if (consumer.ready) return consumer
    }
    return null
  }

  private step(job: JobRef, event: LifecycleEvent): Transition {
    const next = transition(job.state, event)
    // Unreachable unless the broker has a bug: refuse rather than corrupt the job.
    if (next === undefined) throw new Error(`job ${job.id}: '${event}' is not allowed in state ${job.state}`)
    job.state = next.next
    return next
  }

  private dispatch(job: JobRef, consumer: Consumer, payload: Uint8Array | null): void {
    const tr = this.step(job, 'deliver')
    let bytes = payload
    if (job.payload !== null) {
      bytes = job.payload
      this.ctx.cacheRelease(bytes.length)
      job.payload = null // a retry reads it back from the store: memory goes to queued jobs
    } else if (bytes === null) bytes = this.ctx.store.payload(job.id)
    const leaseMs = job.leaseMs || consumer.leaseMs
    job.consumer = consumer
    job.leaseDeadline = Date.now() + leaseMs
    consumer.inflight++
    this.leased.set(job.id, job)
    consumer.target.deliver(consumer, job, bytes, leaseMs)
    if (tr.event !== null) this.ctx.emit(job, tr.event, null)
  }

  /** Ends the current delivery's lease bookkeeping; returns the consumer that got credit back. */
  private endDelivery(job: JobRef): Consumer {
    const consumer = job.consumer as Consumer
    job.consumer = null
    job.progress = null
    consumer.inflight--
    this.leased.delete(job.id)
    consumer.target.forget(job)
    return consumer
  }

  private expiresAt(job: JobRef, now: number): number {
    return now + (job.retentionMs >= 0 ? job.retentionMs : this.ctx.defaultRetentionMs)
  }

  ack(job: JobRef, result: Uint8Array | null): void {
    const tr = this.step(job, 'ack')
    const now = Date.now()
    job.attempts++
    this.ctx.store.complete(job.id, job.attempts, result, now, this.expiresAt(job, now))
    const consumer = this.endDelivery(job)
    this.completed++
    this.ctx.emit(job, tr.event as EventType, result)
    this.ctx.serve(consumer)
  }

  /** A delivery failed (nack, lease expiry, consumer lost): retry while attempts are left. */
  failDelivery(job: JobRef, error: Uint8Array | null, retry: boolean): void {
    job.attempts++
    const tr = this.step(job, failureOutcome(job.attempts, job.maxAttempts, retry))
    const now = Date.now()
    const consumer = this.endDelivery(job)
    if (tr.terminal) {
      this.ctx.store.fail(job.id, job.attempts, error, now, this.expiresAt(job, now))
      this.failed++
      this.ctx.emit(job, tr.event as EventType, error)
    } else {
      this.ctx.store.retry(job.id, job.attempts, error)
      this.ctx.emit(job, tr.event as EventType, error)
      this.enqueue(job, null)
    }
    this.ctx.serve(consumer)
  }

  extend(job: JobRef, leaseMs: number): number {
    this.step(job, 'extend')
    job.leaseDeadline = Date.now() + leaseMs
    return job.leaseDeadline
  }

  progress(job: JobRef, value: Uint8Array): void {
    const tr = this.step(job, 'progress')
    job.progress = Uint8Array.prototype.slice.call(value) as Uint8Array
    this.ctx.emit(job, tr.event as EventType, job.progress)
  }

  /** Fails every delivery whose lease ended before `now` (called by the broker's lease timer). */
  expireLeases(now: number, error: Uint8Array): void {
    if (this.leased.size === 0) return
    // Collect first: a failed delivery may be re-leased at once, and must not expire twice.
    const expired: JobRef[] = []
    for (const job of this.leased.values()) if (job.leaseDeadline <= now) expired.push(job)
    for (const job of expired) this.failDelivery(job, error, true)
  }
}
