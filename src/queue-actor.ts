// QueueActor owns all state of one queue: the ready jobs, the parked consumers and the leases out.
// It is the only code that changes them, and every job transition goes through lifecycle.ts.
// Invariants: a job is in exactly one of `ready` or `leased` while unfinished; a consumer never
// holds more than its credit; a parked consumer has credit and waits in FIFO order (fairness).
// Memory: a ready job is a JobRef with its payload while the cache budget lasts, else only its id
// (8 bytes in the deque), loaded from the store at dispatch; a million queued jobs stay small.

import { Deque } from './deque.js'
import { JobRef } from './job.js'
import type { Consumer } from './consumer.js'
import { State, transition, failureOutcome, type EventType, type LifecycleEvent, type Transition } from './lifecycle.js'
import type { Store } from './store.js'
import { encodeStr } from '../protocol/codec.js'

/** Bytes a cached ready job costs beyond its payload (JobRef + Uint8Array objects), for the budget. */
export const JOB_OVERHEAD = 256

// Incoming bytes are views of a frame that is only valid during its callback, so what is kept is
// copied. Cached payloads go into slabs owned by their queue: a queue's payloads leave in FIFO
// order, so its slabs are freed in order too (a shared slab could be pinned by one stalled job).
const SLAB_SIZE = 16 * 1024
const SLAB_MAX_ITEM = 1024

/** A copy that owns its memory (for values that live long, e.g. progress). */
function copyOf(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes) as Uint8Array
}

/** What an actor uses from the broker around it (injected; see Broker). */
export interface ActorContext {
  readonly store: Store
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
  private readonly ready = new Deque<JobRef | number>(1024)
  private readonly waiting = new Deque<Consumer>(16)
  private readonly leased = new Map<number, JobRef>()
  private slab: Uint8Array | null = null
  private slabPos = 0
  consumers = 0
  /** Finished jobs still retained in the store (loaded at start, kept up to date; for stats). */
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

  /** Puts a recovered job back at start-up (no store write, no event): only its id is kept. */
  restore(jobId: number): void {
    this.ready.push(jobId)
  }

  /**
   * A committed-this-turn job enters the queue: handed to the longest-waiting consumer at once
   * (blocking pop), else kept ready. `payload` is only valid during this call unless cached.
   */
  enqueue(job: JobRef, payload: Uint8Array | null): void {
    if (this.handToWaiting(job, payload)) return
    if (payload !== null && this.ctx.cacheTake(payload.length + JOB_OVERHEAD)) {
      job.payload = this.keep(payload)
      this.ready.push(job)
    } else this.ready.push(job.id) // the store has everything; JobRef is rebuilt at dispatch
  }

  /** A job to retry: to a waiting consumer, else back in line as an id (its payload is stored). */
  private requeue(job: JobRef): void {
    if (!this.handToWaiting(job, null)) this.ready.push(job.id)
  }

  /** Blocking pop: delivers to the longest-waiting consumer, who then waits at the back again. */
  private handToWaiting(job: JobRef, payload: Uint8Array | null): boolean {
    const consumer = this.nextWaiting()
    if (consumer === null) return false
    this.dispatch(job, consumer, payload)
    if (consumer.ready) this.park(consumer, consumer.actors.indexOf(this))
    return true
  }

  /** Keeps the count of retained finished jobs (`state` completed or failed) for stats. */
  countFinished(state: number, delta: number): void {
    if (state === State.completed) this.completed += delta
    else this.failed += delta
  }

  /** Copies a payload to keep it while the job waits: small ones into this queue's slab. */
  private keep(bytes: Uint8Array): Uint8Array {
    const n = bytes.length
    if (n > SLAB_MAX_ITEM) return copyOf(bytes)
    if (this.slab === null || this.slabPos + n > SLAB_SIZE) {
      this.slab = new Uint8Array(SLAB_SIZE)
      this.slabPos = 0
    }
    const out = this.slab.subarray(this.slabPos, this.slabPos + n)
    out.set(bytes)
    this.slabPos = (this.slabPos + n + 7) & ~7
    return out
  }

  /** Delivers ready jobs to `consumer` while it has credit; returns whether it still has some. */
  pull(consumer: Consumer): boolean {
    while (consumer.ready) {
      const item = this.ready.shift()
      if (item === undefined) {
        this.slab = null // an idle queue holds no slab; the next cached payload starts a new one
        return true
      }
      if (typeof item !== 'number') this.dispatch(item, consumer, null)
      else {
        // A ready job kept as an id: rebuilt from the store, with its payload.
        const row = this.ctx.store.loadQueued(item)
        if (row !== undefined) this.dispatch(new JobRef(item, this, row[1], row[2], row[3], row[4], null), consumer, row[0])
      }
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
      this.ctx.cacheRelease(bytes.length + JOB_OVERHEAD)
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
      this.requeue(job)
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
    job.progress = copyOf(value)
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
