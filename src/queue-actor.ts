// QueueActor owns all state of one queue: the ready jobs (by priority), the delayed jobs (by due
// time), the parked consumers, the leases out, the submits waiting for room, pause and settings.
// It is the only code that changes them, and every job transition goes through lifecycle.ts.
// Invariants: an unfinished job is in exactly one of `ready`, `delayed` or `leased`; the heap pops
// in (due time, id) order and every entry up to the mark (promotedThrough, promotedId) has been
// moved to `ready`, none after it; a consumer never holds more than its credit; a parked
// consumer has credit and waits in FIFO order (fairness).
// Memory: a ready job is a JobRef with its payload while the cache budget lasts, else only its id;
// a delayed job is 18 bytes in a typed heap. Payloads stay in the store until dispatch.

import { Deque } from './deque.js'
import { JobRef } from './job.js'
import type { Consumer } from './consumer.js'
import {
  NEW,
  State,
  transition,
  failureOutcome,
  isTerminal,
  type EventType,
  type LifecycleEvent,
  type StateCode,
  type Transition,
} from './lifecycle.js'
import type { JobRow, Store } from './store.js'
import { backoffDelay, type Backoff } from './backoff.js'
import { ReadyQueue } from './ready-queue.js'
import { TimeHeap } from './time-heap.js'
import { StaleEntries } from './stale-entries.js'
import { applyChange, settingsFromJson, settingsToJson, type QueueSettings, type QueueSettingsChange } from './queue-settings.js'
import { BrokerError } from '../protocol/errors.js'
import { encodeStr } from '../protocol/codec.js'
import { Limits, STATE_NAMES } from '../protocol/ops.js'
import type { QueueCounts } from '../protocol/shapes.js'

/** Delayed jobs moved to the ready line per timer turn (a burst of 100k is spread over turns). */
export const PROMOTE_PER_WAKE = 256

/** Bytes a cached ready job costs beyond its payload (JobRef + Uint8Array objects), for the budget. */
export const JOB_OVERHEAD = 256

// Incoming bytes are views of a frame that is only valid during its callback, so what is kept is
// copied. Cached payloads go into slabs owned by their queue: a queue's payloads leave in FIFO
// order, so its slabs are freed in order too (a shared slab could be pinned by one stalled job).
const SLAB_SIZE = 16 * 1024
const SLAB_MAX_ITEM = 1024

/** A copy that owns its memory (for values that live long, e.g. progress). */
export function copyOf(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes) as Uint8Array
}

/** What an actor uses from the broker around it (injected; see Broker). */
export interface ActorContext {
  readonly store: Store
  readonly defaultRetentionMs: number
  readonly lastJobId: number
  /** Someone watches the job (checked before anything is looked up for an event). */
  isWatched(jobId: number): boolean
  /** Publishes a job event to its watchers after the turn's commit. */
  emit(
    jobId: number,
    type: EventType,
    state: number,
    attempt: number,
    data: Uint8Array | null,
    runAt: number,
    endsWatch: boolean,
    at: number,
  ): void
  /** A consumer got credit back: feed it from its queues in priority order, or park it. */
  serve(consumer: Consumer): void
  /** Payload cache budget shared by all queues. */
  cacheTake(bytes: number): boolean
  cacheRelease(bytes: number): void
  /** Calls `wake(now)` of this actor at `due` (the broker's one timer). */
  wakeAt(actor: QueueActor, due: number): void
}

/** A submit waiting for room in a full queue (made by the broker, which stores and answers it). */
export interface WaitingSubmit {
  /** Jobs it adds (duplicates excluded). */
  readonly needed: number
  readonly deadline: number
  /** Its connection closed: drop it. */
  readonly gone: boolean
  /** It leaves the line without an answer (its connection is gone). */
  drop(): void
  /** There is room now: store the jobs and answer. */
  admit(): void
  /** The wait is over without room: answer queue_full. */
  expire(): void
}

/** A queue's defaults for the options a job did not give (from its settings). */
export interface JobDefaults {
  maxAttempts: number
  leaseMs: number
  retentionMs: number
  backoff: Backoff | null
  /** `backoff` as stored in each job row. */
  backoffJson: string | null
}

export class QueueActor {
  /** The queue name as a ready-made MessagePack str, written into every delivery. */
  readonly nameBytes: Uint8Array
  private readonly ready = new ReadyQueue<JobRef | number>(1024)
  private readonly delayed = new TimeHeap(64)
  /**
   * The (due time, id) of the last delayed job moved to `ready`: every entry up to it in heap
   * order has been moved, none after it (Infinity: all due at promotedThrough). Never decreases.
   */
  private promotedThrough: number
  private promotedId = Infinity
  /** Entries of jobs that left `ready` / `delayed` by cancel or remove, skipped when reached. */
  private readonly staleReady = new StaleEntries()
  private readonly staleDelayed = new StaleEntries()
  private readonly waiting = new Deque<Consumer>(16)
  private readonly leased = new Map<number, JobRef>()
  /** Deliveries of jobs cancelled while active: they hold their consumer's credit until let go. */
  private readonly revoked = new Map<number, JobRef>()
  private readonly producers: WaitingSubmit[] = []
  private admitting = false
  /** Earliest time this actor asked the broker to wake it. */
  private wakeRequested = Infinity
  private slab: Uint8Array | null = null
  private slabPos = 0
  paused = false
  settings: QueueSettings = {}
  /** Job options from the settings, computed once per change (read by every submit). */
  defaults: JobDefaults
  consumers = 0
  /** Finished jobs still retained in the store (loaded at start, kept up to date; for stats). */
  completed = 0
  failed = 0
  cancelled = 0

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly ctx: ActorContext,
    settingsJson: string | null = null,
    paused = false,
  ) {
    this.nameBytes = encodeStr(name)
    this.promotedThrough = Date.now()
    this.settings = settingsFromJson(settingsJson)
    this.defaults = QueueActor.defaultsOf(this.settings)
    this.paused = paused
  }

  get queuedCount(): number {
    return this.ready.length - this.staleReady.count
  }

  get delayedCount(): number {
    return this.delayed.size - this.staleDelayed.count
  }

  get activeCount(): number {
    return this.leased.size
  }

  counts(): QueueCounts {
    return {
      queued: this.queuedCount,
      delayed: this.delayedCount,
      active: this.activeCount,
      consumers: this.consumers,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      waiting: this.producers.length,
    }
  }

  /** A leased (active) job by id, for snapshots. */
  leasedJob(id: number): JobRef | undefined {
    return this.leased.get(id)
  }

  /** The state of a job of this queue, from its row and what this actor holds. */
  stateOf(row: JobRow): StateCode {
    if (row.state !== null) return row.state as StateCode
    if (this.leased.has(row.id)) return State.active
    return this.inHeap(row.runAt, row.id) ? State.delayed : State.queued
  }

  // ---- jobs entering the queue -----------------------------------------------------------------

  /** Puts a recovered job back at start-up (no store write, no event): only its id is kept. */
  restore(jobId: number, priority: number, runAt: number): void {
    if (this.inHeap(runAt, jobId)) this.addDelayed(jobId, runAt, priority)
    else this.ready.push(jobId, priority)
  }

  /**
   * A job stored in this turn enters the queue: delayed until `runAt`, or handed to the
   * longest-waiting consumer at once (blocking pop), else kept ready. `payload` is only valid
   * during this call unless cached.
   */
  accept(
    jobId: number,
    payload: Uint8Array,
    maxAttempts: number,
    leaseMs: number,
    retentionMs: number,
    priority: number,
    backoff: Backoff | null,
    runAt: number,
  ): void {
    if (this.inHeap(runAt, jobId)) {
      step(undefined, 'submit_delayed', NEW)
      this.addDelayed(jobId, runAt, priority)
      return
    }
    step(undefined, 'submit', NEW)
    const job = new JobRef(jobId, this, 0, maxAttempts, leaseMs, retentionMs, null, priority, backoff)
    if (this.handToWaiting(job, payload)) return
    if (this.ctx.cacheTake(payload.length + JOB_OVERHEAD)) {
      job.payload = this.keep(payload)
      this.ready.push(job, priority)
    } else this.ready.push(jobId, priority) // the store has everything; JobRef is rebuilt at dispatch
  }

  /** What a new job of this queue gets from the queue's settings where it gave no option. */
  private static defaultsOf(s: QueueSettings): JobDefaults {
    return {
      maxAttempts: s.maxAttempts ?? 3,
      leaseMs: s.leaseMs ?? 0,
      retentionMs: s.retentionMs ?? -1,
      backoff: s.backoff ?? null,
      backoffJson: s.backoff === undefined ? null : JSON.stringify(s.backoff),
    }
  }

  private addDelayed(jobId: number, runAt: number, priority: number): void {
    this.delayed.push(runAt, jobId, priority)
    this.requestWake(runAt)
  }

  /** A job known by id only becomes ready: to a waiting consumer, else in line. */
  private enqueueId(jobId: number, priority: number): void {
    if (!this.paused && this.waiting.length !== 0) {
      const job = this.load(jobId)
      if (job === undefined) return // finished or deleted meanwhile
      if (this.handToWaiting(job.ref, job.payload)) return
      this.ready.push(jobId, priority)
    } else this.ready.push(jobId, priority)
  }

  /** A job to retry at once: to a waiting consumer, else back in line as an id (its payload is stored). */
  private requeue(job: JobRef): void {
    if (!this.handToWaiting(job, null)) this.ready.push(job.id, job.priority)
  }

  /** Blocking pop: delivers to the longest-waiting consumer, who then waits at the back again. */
  private handToWaiting(job: JobRef, payload: Uint8Array | null): boolean {
    if (this.paused) return false
    const consumer = this.nextWaiting()
    if (consumer === null) return false
    this.dispatch(job, consumer, payload)
    if (consumer.ready) this.park(consumer, consumer.actors.indexOf(this))
    return true
  }

  /** Keeps the count of retained finished jobs (completed, failed or cancelled) for stats. */
  countFinished(state: number, delta: number): void {
    if (state === State.completed) this.completed += delta
    else if (state === State.failed) this.failed += delta
    else if (state === State.cancelled) this.cancelled += delta
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

  // ---- dispatch --------------------------------------------------------------------------------

  /** Delivers ready jobs to `consumer` while it has credit; returns whether it still has some. */
  pull(consumer: Consumer): boolean {
    if (this.paused) return consumer.ready
    let dispatched = false
    while (consumer.ready) {
      const item = this.ready.shift()
      if (item === undefined) {
        this.slab = null // an idle queue holds no slab; the next cached payload starts a new one
        if (dispatched) this.roomMade()
        return true
      }
      if (typeof item !== 'number') {
        if (!this.staleReady.empty && this.staleReady.take(item.id)) {
          if (item.payload !== null) this.ctx.cacheRelease(item.payload.length + JOB_OVERHEAD)
          continue
        }
        this.dispatch(item, consumer, null)
      } else {
        if (!this.staleReady.empty && this.staleReady.take(item)) continue
        // A ready job kept as an id: rebuilt from the store, with its payload.
        const job = this.load(item)
        if (job !== undefined) this.dispatch(job.ref, consumer, job.payload)
      }
      dispatched = true
    }
    if (dispatched) this.roomMade()
    return false
  }

  /** An unfinished job rebuilt from the store, or undefined when it finished or was deleted. */
  private load(jobId: number): { ref: JobRef; payload: Uint8Array } | undefined {
    const row = this.ctx.store.loadQueued(jobId)
    if (row === undefined) return undefined
    const backoff = row[6] === null ? null : (JSON.parse(row[6]) as Backoff)
    return { ref: new JobRef(jobId, this, row[1], row[2], row[3], row[4], null, row[5], backoff), payload: row[0] }
  }

  /** Marks the entry of an unfinished, not active job as stale (it left by cancel or remove). */
  private leaveLine(jobId: number, from: StateCode): void {
    ;(from === State.delayed ? this.staleDelayed : this.staleReady).mark(jobId)
    this.roomMade()
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
    const next = step(job, event)
    job.state = next.next as StateCode
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
    const now = Date.now()
    job.consumer = consumer
    job.leaseDeadline = now + leaseMs
    consumer.inflight++
    this.leased.set(job.id, job)
    consumer.target.deliver(consumer, job, bytes, leaseMs)
    this.emit(job, tr, now, null, 0)
  }

  /**
   * Publishes a transition of a job this actor holds (no-op when nobody watches it). `at` is the
   * transition's time, the one its stored times (finish, due, lease) were computed from.
   */
  private emit(
    job: JobRef,
    tr: Transition,
    at: number,
    data: Uint8Array | null,
    runAt: number,
    attempt = job.state === State.active ? job.attempts + 1 : job.attempts,
  ): void {
    if (tr.event === null || !this.ctx.isWatched(job.id)) return
    this.ctx.emit(job.id, tr.event, job.state, attempt, data, runAt, tr.endsWatch, at)
  }

  /** Publishes a transition of a job known by id only; its attempts are read only when watched. */
  private emitId(jobId: number, tr: Transition, state: number, at: number, attempts?: number): void {
    if (tr.event === null || !this.ctx.isWatched(jobId)) return
    const attempt = attempts ?? this.ctx.store.row(jobId)?.attempts ?? 0
    this.ctx.emit(jobId, tr.event, state, attempt, null, 0, tr.endsWatch, at)
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

  private expiresAt(retentionMs: number, now: number): number {
    return now + (retentionMs >= 0 ? retentionMs : this.ctx.defaultRetentionMs)
  }

  // ---- settlement ----------------------------------------------------------------------------

  ack(job: JobRef, result: Uint8Array | null): void {
    const tr = this.step(job, 'ack')
    const now = Date.now()
    job.attempts++
    this.ctx.store.finish(job.id, State.completed, job.attempts, result, null, now, this.expiresAt(job.retentionMs, now))
    const consumer = this.endDelivery(job)
    this.completed++
    this.emit(job, tr, now, result, 0)
    this.ctx.serve(consumer)
  }

  /**
   * A delivery failed (nack, lease expiry, consumer lost): retry while attempts are left, after
   * the job's backoff or `retryAfterMs` (≥ 0: the worker's wish for this retry).
   */
  failDelivery(job: JobRef, error: Uint8Array | null, retry: boolean, retryAfterMs = -1): void {
    job.attempts++
    const retrying = retry && job.attempts < job.maxAttempts
    const wait = !retrying ? 0 : retryAfterMs >= 0 ? retryAfterMs : backoffDelay(job.backoff, job.attempts)
    const tr = this.step(job, failureOutcome(job.attempts, job.maxAttempts, retry, wait))
    const now = Date.now()
    const consumer = this.endDelivery(job)
    if (tr.next === State.failed) {
      this.ctx.store.finish(job.id, State.failed, job.attempts, null, error, now, this.expiresAt(job.retentionMs, now))
      this.failed++
      this.emit(job, tr, now, error, 0)
    } else if (tr.next === State.delayed) {
      const runAt = now + wait
      this.ctx.store.retry(job.id, job.attempts, error, runAt)
      this.emit(job, tr, now, error, runAt)
      // Known by id from here on: the JobRef goes, the store has the rest.
      if (this.inHeap(runAt, job.id)) this.addDelayed(job.id, runAt, job.priority)
      else this.enqueueId(job.id, job.priority)
    } else {
      this.ctx.store.retry(job.id, job.attempts, error, 0)
      this.emit(job, tr, now, error, now)
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
    this.emit(job, tr, Date.now(), job.progress, 0)
  }

  /** Fails every delivery whose lease ended before `now` (called by the broker's lease timer). */
  expireLeases(now: number, error: Uint8Array): void {
    if (this.leased.size !== 0) {
      // Collect first: a failed delivery may be re-leased at once, and must not expire twice.
      const expired: JobRef[] = []
      for (const job of this.leased.values()) if (job.leaseDeadline <= now) expired.push(job)
      for (const job of expired) this.failDelivery(job, error, true)
    }
    if (this.revoked.size !== 0) {
      const over: JobRef[] = []
      for (const job of this.revoked.values()) if (job.leaseDeadline <= now) over.push(job)
      for (const job of over) this.releaseRevoked(job)
    }
  }

  // ---- time --------------------------------------------------------------------------------------

  private requestWake(due: number): void {
    if (due >= this.wakeRequested) return
    this.wakeRequested = due
    this.ctx.wakeAt(this, due)
  }

  /** A job due at `runAt` belongs in the delayed heap (it is after the promotion mark). */
  private inHeap(runAt: number, jobId: number): boolean {
    return runAt > this.promotedThrough || (runAt === this.promotedThrough && jobId > this.promotedId)
  }

  /**
   * Called by the broker's timer: delayed jobs that came due join the line (at most
   * PROMOTE_PER_WAKE per turn, so that the first of a big burst go out at once and other queues
   * are not held up; the rest follow in the next turns); submits waiting for room time out.
   */
  wake(now: number): void {
    this.wakeRequested = Infinity
    const heap = this.delayed
    let moved = 0
    while (heap.size !== 0 && heap.topDue <= now) {
      if (moved === PROMOTE_PER_WAKE) break
      const jobId = heap.topId
      const due = heap.topDue
      const priority = heap.topTag
      heap.pop()
      this.promotedThrough = due
      this.promotedId = jobId
      if (this.staleDelayed.take(jobId)) continue
      moved++
      this.emitId(jobId, step(undefined, 'due', State.delayed), State.queued, now)
      this.enqueueId(jobId, priority)
    }
    if (heap.topDue > now && now >= this.promotedThrough) {
      this.promotedThrough = now // everything due by now is out: the mark moves to now
      this.promotedId = Infinity
    }
    if (this.producers.length !== 0) this.expireWaits(now)
    let next = heap.topDue
    for (const w of this.producers) if (w.deadline < next) next = w.deadline
    if (next !== Infinity) this.requestWake(next)
  }

  // ---- queue length and waiting submits ------------------------------------------------------------

  /** A submit of `n` new jobs may go in now (room, and nobody waiting ahead of it). */
  admits(n: number): boolean {
    const max = this.settings.maxLength
    return max === undefined || (this.producers.length === 0 && this.queuedCount + this.delayedCount + n <= max)
  }

  /** A full queue takes one more waiting submit; false when too many wait already. */
  addWaiting(w: WaitingSubmit): boolean {
    if (this.producers.length >= Limits.maxWaitingSubmits) return false
    this.producers.push(w)
    this.requestWake(w.deadline)
    return true
  }

  /** Jobs left the line (dispatch, cancel, remove) or the limit rose: admit waiting submits in order. */
  private roomMade(): void {
    if (this.producers.length === 0 || this.admitting) return
    this.admitting = true
    try {
      const max = this.settings.maxLength
      while (this.producers.length !== 0) {
        const w = this.producers[0]
        if (!w.gone && max !== undefined && this.queuedCount + this.delayedCount + w.needed > max) break
        this.producers.shift()
        if (w.gone) w.drop()
        else w.admit()
      }
    } finally {
      this.admitting = false
    }
  }

  private expireWaits(now: number): void {
    const keep: WaitingSubmit[] = []
    for (const w of this.producers) {
      if (w.gone) w.drop()
      else if (w.deadline <= now) w.expire()
      else keep.push(w)
    }
    this.producers.length = 0
    this.producers.push(...keep)
    this.roomMade() // an expired head may have held back smaller submits behind it
  }

  // ---- operations on one job (cancel, retry, remove) --------------------------------------------

  /** Cancels a job of this queue (PROTOCOL.md §3 cancel); `row` is its stored row. */
  cancel(row: JobRow): { state: string; cancelled: boolean } {
    const active = this.leased.get(row.id)
    if (active !== undefined) {
      this.cancelActive(active)
      return { state: 'cancelled', cancelled: true }
    }
    const from = this.stateOf(row)
    if (isTerminal(from)) return { state: STATE_NAMES[from], cancelled: false }
    const tr = step(undefined, 'cancel', from)
    const now = Date.now()
    this.ctx.store.finish(row.id, State.cancelled, row.attempts, null, null, now, this.expiresAt(row.retentionMs, now))
    this.cancelled++
    this.emitId(row.id, tr, State.cancelled, now, row.attempts)
    this.leaveLine(row.id, from)
    return { state: 'cancelled', cancelled: true }
  }

  /**
   * An active job ends cancelled at once; its worker is told to stop (revoke), and the delivery
   * keeps holding the consumer's credit until the worker lets go (settles, lease ends, closes).
   */
  private cancelActive(job: JobRef): void {
    const tr = this.step(job, 'cancel')
    const now = Date.now()
    const attempt = job.attempts + 1 // the interrupted delivery counts as made
    this.ctx.store.finish(job.id, State.cancelled, attempt, null, null, now, this.expiresAt(job.retentionMs, now))
    this.leased.delete(job.id)
    this.revoked.set(job.id, job)
    job.progress = null
    this.cancelled++
    this.emit(job, tr, now, null, 0, attempt)
    const consumer = job.consumer as Consumer
    consumer.target.revoke(consumer, job)
  }

  /** A revoked delivery is let go: its consumer gets the credit back. */
  releaseRevoked(job: JobRef): void {
    if (this.revoked.get(job.id) !== job) return
    this.revoked.delete(job.id)
    const consumer = job.consumer as Consumer
    job.consumer = null
    consumer.inflight--
    consumer.target.forget(job)
    this.ctx.serve(consumer)
  }

  /** Sends a failed or cancelled job back to `queued`, attempts reset (retry, redrive). */
  requeueFinished(row: JobRow): void {
    const from = this.stateOf(row)
    const tr = transition(from, 'requeue')
    if (tr === undefined)
      throw new BrokerError('conflict', `job ${row.id} is ${STATE_NAMES[from]}: only failed or cancelled jobs can be retried`, row.id)
    const held = this.revoked.get(row.id)
    if (held !== undefined) {
      throw new BrokerError(
        'conflict',
        `job ${row.id} was cancelled while running and its worker has not let go of it yet (lease until ${held.leaseDeadline}); retry it after that`,
        row.id,
      )
    }
    this.ctx.store.requeue(row.id)
    this.countFinished(from, -1)
    this.emitId(row.id, tr, State.queued, Date.now(), 0)
    this.enqueueId(row.id, row.priority)
  }

  /** Deletes a job that is not active; returns the state it had. */
  remove(row: JobRow): string {
    const from = this.stateOf(row)
    const tr = transition(from, 'remove')
    if (tr === undefined)
      throw new BrokerError('conflict', `job ${row.id} is ${STATE_NAMES[from]}: cancel it first, then remove it`, row.id)
    this.ctx.store.remove(row.id, this.ctx.lastJobId)
    this.emitId(row.id, tr, from, Date.now(), row.attempts)
    if (isTerminal(from)) this.countFinished(from, -1)
    else this.leaveLine(row.id, from)
    return STATE_NAMES[from]
  }

  // ---- listing -----------------------------------------------------------------------------------

  /**
   * Ids of this queue's unfinished jobs in `state` (queued, delayed, active) below `beforeId`,
   * highest first, at most `limit`. A scan of the line: O(n log limit), for admin paging only.
   */
  unfinishedIds(state: StateCode, beforeId: number, limit: number): number[] {
    const best = new TimeHeap(Math.max(2, limit + 1)) // min-heap of the `limit` largest ids so far
    const offer = (id: number): void => {
      if (id >= beforeId) return
      if (best.size < limit) best.push(id, id)
      else if (id > best.topId) {
        best.pop()
        best.push(id, id)
      }
    }
    if (state === State.active) for (const id of this.leased.keys()) offer(id)
    else {
      const stale = state === State.delayed ? this.staleDelayed : this.staleReady
      // An id with stale entries is live only if it has more entries than stale ones.
      const seen = stale.empty ? null : new Map<number, number>()
      const visit = (id: number): void => {
        if (seen !== null && stale.of(id) > 0) seen.set(id, (seen.get(id) ?? 0) + 1)
        else offer(id)
      }
      if (state === State.delayed) this.delayed.forEach((_due, id) => visit(id))
      else this.ready.forEach((item) => visit(typeof item === 'number' ? item : item.id))
      if (seen !== null) for (const [id, n] of seen) if (n > stale.of(id)) offer(id)
    }
    const out: number[] = []
    while (best.size !== 0) {
      out.push(best.topId)
      best.pop()
    }
    return out.reverse()
  }

  // ---- pause and settings ----------------------------------------------------------------------

  setPaused(paused: boolean): void {
    if (this.paused === paused) return
    this.paused = paused
    this.save()
    if (!paused) this.serveWaiting()
  }

  configure(change: QueueSettingsChange): void {
    this.settings = applyChange(this.settings, change)
    this.defaults = QueueActor.defaultsOf(this.settings)
    this.save()
    this.roomMade() // a higher (or no) maxLength lets waiting submits in
  }

  private save(): void {
    this.ctx.store.saveQueue(this.id, settingsToJson(this.settings), this.paused)
  }

  /** Resume: every parked consumer is served again (in the order they waited). */
  private serveWaiting(): void {
    const parked: Consumer[] = []
    while (this.waiting.length !== 0) {
      const consumer = this.waiting.shift() as Consumer
      consumer.parkedMask &= ~(1 << consumer.actors.indexOf(this))
      parked.push(consumer)
    }
    for (const consumer of parked) this.ctx.serve(consumer)
  }
}

/**
 * The table's transition for `event` from a job's state (or from `from` for a job known by id
 * only). Unreachable unless the broker has a bug: refuse rather than corrupt the job.
 */
function step(job: JobRef | undefined, event: LifecycleEvent, from: number = job?.state ?? -1): Transition {
  const next = transition(from as StateCode, event)
  if (next === undefined) throw new Error(`job ${job?.id ?? '?'}: '${event}' is not allowed in state ${from}`)
  return next
}
