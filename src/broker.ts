// The Broker is the registry of queue actors and the owner of the event-loop turn: every write of
// a turn joins one store transaction, and `flush()` commits it before anything leaves the broker
// (replies, deliveries, events). Nothing acknowledged can be lost; nothing unacknowledged leaks.
// It also owns the one timer that wakes actors (Scheduler) and answers requests about one job by
// finding its queue's actor, which makes the change.

import type { Logger } from 'pino'
import { QueueActor, copyOf, type ActorContext, type WaitingSubmit } from './queue-actor.js'
import type { Consumer } from './consumer.js'
import { Store } from './store.js'
import { Scheduler } from './scheduler.js'
import { WatchHub, type Publisher, type Watcher } from './watch-hub.js'
import { State, isTerminal, type EventType, type StateCode } from './lifecycle.js'
import type { Backoff } from './backoff.js'
import type { QueueMap, QueueSettingsChange } from '../protocol/shapes.js'
import { BrokerError } from '../protocol/errors.js'
import { encodeValue } from '../protocol/codec.js'
import { STATE_NAMES } from '../protocol/ops.js'
import { isFinishedState } from '../protocol/events.js'

export interface BrokerOptions {
  leaseMs: number
  retentionMs: number
  /** Bytes of queued payloads kept in memory; the rest is read from the store at dispatch. */
  payloadCacheBytes: number
  /** The longest a completion's commit may wait for a turn that commits anyway (default 2 ms). */
  deferCommitMs?: number
}

/** A submit's options as validated (PROTOCOL.md §5); "unset" values defer to the queue's settings. */
export interface SubmitOptions {
  /** 0: the queue's setting, else 3. */
  maxAttempts: number
  /** 0: the queue's setting, else the consumer's / broker's lease. */
  leaseMs: number
  /** -1: the queue's setting, else the broker's retention. */
  retentionMs: number
  /** null: the queue's setting, else retry at once. */
  backoff: Backoff | null
  key: string | null
  /** -1: not a re-send. */
  resendAfter: number
  /** The submitter also watches the job (answered like `watch`, same rid). */
  watch: boolean
  /** Due time (ms since epoch) of a delayed job; 0: now. */
  runAt: number
  priority: number
  /** How long to wait for room in a full queue; 0: fail queue_full at once. */
  waitMs: number
}

export const DEFAULT_SUBMIT: Readonly<SubmitOptions> = Object.freeze({
  maxAttempts: 0,
  leaseMs: 0,
  retentionMs: -1,
  backoff: null,
  key: null,
  resendAfter: -1,
  watch: false,
  runAt: 0,
  priority: 0,
  waitMs: 0,
})

/** Who a watch answers: a WebSocket session, or an HTTP long poll / event stream. */
export interface WatchTarget extends Watcher {
  /** Answers a watch (after the turn's commit). */
  pushSnapshot(rid: number, snapshot: Record<string, unknown>): void
  pushError(rid: number, error: BrokerError): void
}

/** A connection as the broker sees it at the end of a turn. */
export interface FlushTarget extends WatchTarget {
  flush(): void
  /** Its frame of this turn holds more than deliveries (a reply, a snapshot, an error, ...). */
  readonly answering: boolean
}

/** Who a waiting submit answers when it gets in (or times out). */
export interface SubmitTarget extends FlushTarget {
  readonly closed: boolean
  pushSubmitted(rid: number, ids: number[], duplicates: boolean[], many: boolean): void
}

const LEASE_EXPIRED = encodeValue({ name: 'LeaseExpired', message: 'the lease ended before the job was settled' })
/** Bytes of payload copies all waiting submits may hold; past it a full queue answers queue_full at once. */
export const WAITING_BYTES = 64 * 1024 * 1024

export const CONSUMER_LOST = encodeValue({ name: 'ConsumerLost', message: 'the connection holding the job closed' })

export class Broker<S extends SubmitTarget = SubmitTarget> implements ActorContext {
  readonly hub: WatchHub<WatchTarget>
  readonly defaultRetentionMs: number
  private readonly byName = new Map<string, QueueActor>()
  private readonly byId = new Map<number, QueueActor>()
  private lastJob: number
  private cacheUsed = 0
  /** Bytes held by submits waiting for room (bounded by WAITING_BYTES). */
  private waitingBytes = 0
  private flushScheduled = false
  private deferTimer: ReturnType<typeof setTimeout> | null = null
  private readonly dirty: S[] = []
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly scheduler = new Scheduler((actorId, now) => this.byId.get(actorId)?.wake(now))
  /** Set by graceful shutdown: closing sockets then does not count as consumers lost. */
  stopping = false

  constructor(
    readonly store: Store,
    publisher: Publisher,
    readonly opts: BrokerOptions,
    private readonly log: Logger,
  ) {
    this.hub = new WatchHub<WatchTarget>(publisher)
    this.defaultRetentionMs = opts.retentionMs
    this.lastJob = store.lastJobId()
    store.onWrite = () => this.scheduleFlush()
  }

  /** Rebuilds every queue from the store: every unfinished job is ready (or delayed) again. */
  recover(): { jobs: number; delayed: number; queues: number } {
    for (const q of this.store.queues()) this.addActor(q.id, q.name, q.settings, q.paused !== 0)
    let jobs = 0
    let actor: QueueActor | undefined
    for (const [id, queueId, priority, runAt] of this.store.recover()) {
      if (actor?.id !== queueId) actor = this.byId.get(queueId)
      if (actor === undefined) continue // a job of an unknown queue cannot exist (same transaction)
      actor.restore(id, priority, runAt)
      jobs++
    }
    let delayed = 0
    for (const a of this.byId.values()) delayed += a.delayedCount
    for (const [queueId, state, count] of this.store.finishedCounts()) this.byId.get(queueId)?.countFinished(state, count)
    return { jobs, delayed, queues: this.byId.size }
  }

  get lastJobId(): number {
    return this.lastJob
  }

  private addActor(id: number, name: string, settings: string | null = null, paused = false): QueueActor {
    const actor = new QueueActor(id, name, this, settings, paused)
    this.byName.set(name, actor)
    this.byId.set(id, actor)
    return actor
  }

  actor(name: string): QueueActor {
    return this.byName.get(name) ?? this.addActor(this.store.createQueue(name), name)
  }

  /** An existing queue, or not_found. */
  private existing(name: string): QueueActor {
    const actor = this.byName.get(name)
    if (actor === undefined) throw new BrokerError('not_found', `queue ${name} does not exist`)
    return actor
  }

  /** Refuses new work (submits, consumers, pops) during a graceful stop. */
  refuseIfStopping(): void {
    if (this.stopping) throw new BrokerError('shutting_down', 'the broker is stopping; reconnect and retry')
  }

  // ---- submit --------------------------------------------------------------------------------

  /**
   * Stores a job in this turn's transaction and hands it to its queue. Returns null when the
   * queue is full and the submit waits for room (it is answered through `target` later).
   */
  submit(
    target: S,
    rid: number,
    queue: string,
    payload: Uint8Array,
    o: SubmitOptions,
    client: number,
  ): { id: number; duplicate: boolean } | null {
    const actor = this.actor(queue)
    const existing = this.duplicateOf(actor, o, client, rid)
    if (existing !== undefined) return { id: existing, duplicate: true }
    if (actor.admits(1)) return { id: this.store1(actor, payload, o, client, rid), duplicate: false }
    this.refuseUnlessWaiting(actor, o.waitMs)
    this.wait(actor, target, rid, 1, o.waitMs, [payload], (kept) => {
      const again = this.duplicateOf(actor, o, client, rid)
      const id = again ?? this.store1(actor, kept[0], o, client, rid)
      target.pushSubmitted(rid, [id], [again !== undefined], false)
      if (o.watch) this.hub.requestWatch(target, rid, id)
    })
    return null
  }

  /** `submit_many`: all jobs or none; null while waiting for room (answered through `target`). */
  submitMany(
    target: S,
    rid: number,
    queue: string,
    payloads: Uint8Array[],
    options: SubmitOptions[],
    client: number,
  ): { ids: number[]; duplicates: boolean[] } | null {
    const actor = this.actor(queue)
    const plan = this.planBatch(actor, options, client, rid)
    if (plan.fresh === 0 || actor.admits(plan.fresh)) return this.storeBatch(actor, plan, payloads, options, client, rid)
    const waitMs = Math.max(...options.map((o) => o.waitMs))
    this.refuseUnlessWaiting(actor, waitMs)
    this.wait(actor, target, rid, plan.fresh, waitMs, payloads, (kept) => {
      const r = this.storeBatch(actor, this.planBatch(actor, options, client, rid), kept, options, client, rid)
      target.pushSubmitted(rid, r.ids, r.duplicates, true)
    })
    return null
  }

  /**
   * Which items of a batch repeat an existing job (key or re-send) or an earlier item's key: they
   * need no room. `ids[i]` is the existing id, or -1 - j for a repeat of item j.
   */
  private planBatch(
    actor: QueueActor,
    options: SubmitOptions[],
    client: number,
    rid: number,
  ): { ids: number[]; duplicates: boolean[]; fresh: number } {
    const n = options.length
    const ids: number[] = new Array(n).fill(0)
    const duplicates: boolean[] = new Array(n).fill(false)
    let batchKeys: Map<string, number> | null = null
    let fresh = 0
    for (let i = 0; i < n; i++) {
      const o = options[i]
      const existing = this.duplicateOf(actor, o, client, rid + i)
      if (existing !== undefined) {
        ids[i] = existing
        duplicates[i] = true
      } else if (o.key !== null && batchKeys?.has(o.key)) {
        ids[i] = -1 - (batchKeys.get(o.key) as number)
        duplicates[i] = true
      } else {
        if (o.key !== null) (batchKeys ??= new Map()).set(o.key, i)
        fresh++
      }
    }
    return { ids, duplicates, fresh }
  }

  private storeBatch(
    actor: QueueActor,
    plan: { ids: number[]; duplicates: boolean[] },
    payloads: Uint8Array[],
    options: SubmitOptions[],
    client: number,
    rid: number,
  ): { ids: number[]; duplicates: boolean[] } {
    const { ids, duplicates } = plan
    for (let i = 0; i < ids.length; i++) if (!duplicates[i]) ids[i] = this.store1(actor, payloads[i], options[i], client, rid + i)
    for (let i = 0; i < ids.length; i++) if (ids[i] < 0) ids[i] = ids[-1 - ids[i]]
    return { ids, duplicates }
  }

  /** The id of the job this submit repeats (idempotency key, or a re-send), if any. */
  private duplicateOf(actor: QueueActor, o: SubmitOptions, client: number, seq: number): number | undefined {
    if (o.key !== null) {
      const existing = this.store.findByKey(actor.id, o.key)
      if (existing !== undefined) return existing
    }
    if (o.resendAfter >= 0) return this.store.findResend(o.resendAfter, client, seq)
    return undefined
  }

  /** Stores one new job (options resolved against the queue's settings) and enqueues it. */
  private store1(actor: QueueActor, payload: Uint8Array, o: SubmitOptions, client: number, seq: number): number {
    const id = ++this.lastJob
    const d = actor.defaults
    const maxAttempts = o.maxAttempts || d.maxAttempts
    const leaseMs = o.leaseMs || d.leaseMs
    const retentionMs = o.retentionMs >= 0 ? o.retentionMs : d.retentionMs
    const backoff = o.backoff ?? d.backoff
    const backoffJson = o.backoff !== null ? JSON.stringify(o.backoff) : d.backoffJson
    this.store.insert(
      id,
      actor.id,
      maxAttempts,
      leaseMs,
      retentionMs,
      o.key,
      client,
      seq,
      payload,
      Date.now(),
      o.priority,
      o.runAt,
      backoffJson,
    )
    actor.accept(id, payload, maxAttempts, leaseMs, retentionMs, o.priority, backoff, o.runAt)
    return id
  }

  private queueFull(actor: QueueActor): BrokerError {
    return new BrokerError(
      'queue_full',
      `queue ${actor.name} is full (maxLength ${actor.settings.maxLength ?? '-'}): nothing was stored; retry later, or submit with waitMs to wait for room`,
    )
  }

  /** A full queue: queue_full at once unless the submit may wait. */
  private refuseUnlessWaiting(actor: QueueActor, waitMs: number): void {
    if (waitMs <= 0) throw this.queueFull(actor)
  }

  /**
   * Parks a submit in a full queue's waiting line (in arrival order), or refuses it when too many
   * wait in this queue or the copies of all waiting payloads would pass WAITING_BYTES.
   */
  private wait(
    actor: QueueActor,
    target: S,
    rid: number,
    needed: number,
    waitMs: number,
    payloads: Uint8Array[],
    admit: (kept: Uint8Array[]) => void,
  ): void {
    let bytes = 0
    for (const p of payloads) bytes += p.length
    if (this.waitingBytes + bytes > WAITING_BYTES) throw this.queueFull(actor)
    let kept: Uint8Array[] = payloads.map(copyOf) // the frame's bytes are only valid during its callback
    const release = (): Uint8Array[] => {
      const out = kept
      if (out.length !== 0) this.waitingBytes -= bytes
      kept = []
      return out
    }
    const w: WaitingSubmit = {
      needed,
      deadline: Date.now() + waitMs,
      get gone() {
        return target.closed
      },
      admit: () => admit(release()),
      expire: () => {
        release()
        target.pushError(rid, this.queueFull(actor))
      },
      drop: () => void release(),
    }
    if (!actor.addWaiting(w)) throw this.queueFull(actor)
    this.waitingBytes += bytes
  }

  // ---- operations on one job -----------------------------------------------------------------

  /** The stored row of a job and its queue's actor, or not_found. */
  private jobAndActor(jobId: number): { row: NonNullable<ReturnType<Store['row']>>; actor: QueueActor } {
    const row = this.store.row(jobId)
    const actor = row === undefined ? undefined : this.byId.get(row.queueId)
    if (row === undefined || actor === undefined) throw notFound(jobId)
    return { row, actor }
  }

  cancel(jobId: number): { state: string; cancelled: boolean } {
    const { row, actor } = this.jobAndActor(jobId)
    return actor.cancel(row)
  }

  retry(jobId: number): { state: string } {
    const { row, actor } = this.jobAndActor(jobId)
    actor.requeueFinished(row)
    return { state: 'queued' }
  }

  remove(jobId: number): { state: string } {
    const { row, actor } = this.jobAndActor(jobId)
    return { state: actor.remove(row) }
  }

  // ---- operations on one queue -----------------------------------------------------------------

  /** One page of a queue's jobs in `state`, newest first (PROTOCOL.md §3 list_jobs). */
  listJobs(queue: string, state: StateCode, beforeId: number, limit: number): { jobs: Array<Record<string, unknown>>; cursor?: number } {
    const actor = this.existing(queue)
    const ids = isTerminal(state)
      ? this.store.finishedIds(actor.id, state, beforeId, limit + 1)
      : actor.unfinishedIds(state, beforeId, limit + 1)
    const more = ids.length > limit
    const jobs: Array<Record<string, unknown>> = []
    for (const id of more ? ids.slice(0, limit) : ids) {
      const snap = this.snapshot(id)
      if (snap !== undefined) jobs.push(snap)
    }
    return more ? { jobs, cursor: ids[limit - 1] } : { jobs }
  }

  /** Retries up to `limit` of a queue's failed jobs, oldest first. */
  redrive(queue: string, limit: number): { count: number } {
    const actor = this.existing(queue)
    let count = 0
    for (const id of this.store.oldestFinishedIds(actor.id, State.failed, limit)) {
      const row = this.store.row(id)
      if (row === undefined) continue
      actor.requeueFinished(row)
      count++
    }
    return { count }
  }

  /** Deletes a queue's finished jobs of one state. */
  purgeQueue(queue: string, state: StateCode): { count: number } {
    const actor = this.existing(queue)
    const count = this.store.purgeState(actor.id, state, this.lastJob)
    actor.countFinished(state, -count)
    return { count }
  }

  pause(queue: string, paused: boolean): QueueMap {
    const actor = this.actor(queue)
    actor.setPaused(paused)
    return this.info(actor)
  }

  configure(queue: string, change: QueueSettingsChange): QueueMap {
    const actor = this.actor(queue)
    actor.configure(change)
    return this.info(actor)
  }

  queueInfo(queue: string): QueueMap {
    return this.info(this.existing(queue))
  }

  private info(a: QueueActor): QueueMap {
    return { name: a.name, paused: a.paused, settings: a.settings, ...a.counts() }
  }

  stats(queue: string | null): Record<string, unknown> {
    const queues: Record<string, unknown> = {}
    const actors = queue === null ? [...this.byName.values()] : [this.byName.get(queue)].filter((a) => a !== undefined)
    for (const a of actors) queues[a.name] = this.info(a)
    return { queues }
  }

  // ---- ActorContext --------------------------------------------------------------------------

  /** Feeds a consumer that has credit from its queues in priority order; parks it if all are empty. */
  serve(consumer: Consumer): void {
    if (!consumer.ready || this.stopping) return
    const actors = consumer.actors
    for (let i = 0; i < actors.length; i++) if (!actors[i].pull(consumer)) return
    for (let i = 0; i < actors.length; i++) actors[i].park(consumer, i)
  }

  isWatched(jobId: number): boolean {
    return this.hub.isWatched(jobId)
  }

  emit(
    jobId: number,
    type: EventType,
    state: number,
    attempt: number,
    data: Uint8Array | null,
    runAt: number,
    endsWatch: boolean,
    at: number,
  ): void {
    this.hub.emit(jobId, type, STATE_NAMES[state], attempt, data, endsWatch, runAt, at)
    this.scheduleFlush()
  }

  wakeAt(actor: QueueActor, due: number): void {
    this.scheduler.at(due, actor.id)
  }

  cacheTake(bytes: number): boolean {
    if (this.cacheUsed + bytes > this.opts.payloadCacheBytes) return false
    this.cacheUsed += bytes
    return true
  }

  cacheRelease(bytes: number): void {
    this.cacheUsed -= bytes
  }

  /** The job as `get` sees it, or not_found. */
  snapshotOf(jobId: number): Record<string, unknown> {
    const snap = this.snapshot(jobId)
    if (snap === undefined) throw notFound(jobId)
    return snap
  }

  /** The job as watchers and `get` see it, or undefined if it does not exist (any more). */
  snapshot(jobId: number): Record<string, unknown> | undefined {
    const row = this.store.row(jobId)
    if (row === undefined) return undefined
    const actor = this.byId.get(row.queueId)
    const state = actor === undefined ? (row.state ?? State.queued) : actor.stateOf(row)
    const snap: Record<string, unknown> = {
      id: row.id,
      queue: row.queue,
      state: STATE_NAMES[state],
      attempt: row.attempts,
      maxAttempts: row.maxAttempts,
      priority: row.priority,
      createdAt: row.createdAt,
    }
    if (state === State.delayed) snap.runAt = row.runAt
    if (row.finishedAt !== null) snap.finishedAt = row.finishedAt
    if (row.result !== null) snap.result = row.result
    if (row.error !== null) snap.error = row.error
    if (state === State.active) {
      const job = actor?.leasedJob(jobId)
      if (job !== undefined) {
        snap.attempt = job.attempts + 1
        snap.leaseDeadline = job.leaseDeadline
        if (job.progress !== null) snap.progress = job.progress
      }
    }
    return snap
  }

  // ---- the turn ------------------------------------------------------------------------------

  /** A connection has output for this turn. */
  markDirty(session: S): void {
    this.dirty.push(session)
    this.scheduleFlush()
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flush)
  }

  /**
   * End of turn: commit, publish events, answer new watches, send every connection's frame.
   * A turn whose only writes are completions and that answers nobody (no reply, no event: only
   * deliveries of jobs committed earlier) sends without committing; its commit rides with the
   * next turn that must commit, at most DEFER_COMMIT_MS later. Nobody can observe the difference
   * but a crash in between, which redelivers those jobs: what at-least-once allows anyway.
   */
  readonly flush = (): void => {
    this.flushScheduled = false
    const dirty = this.dirty
    if (this.store.deferrable && !this.hub.pending && !this.stopping && !answers(dirty)) {
      this.deferTimer ??= setTimeout(this.commit, this.opts.deferCommitMs ?? DEFER_COMMIT_MS)
    } else this.commit()
    if (this.hub.pending) this.hub.flush(this.answerWatch)
    for (let i = 0; i < dirty.length; i++) dirty[i].flush()
    dirty.length = 0
  }

  /** Commits the open transaction (the turn's, and any deferred one). */
  private readonly commit = (): void => {
    if (this.deferTimer !== null) {
      clearTimeout(this.deferTimer)
      this.deferTimer = null
    }
    try {
      this.store.commit()
    } catch (err) {
      // Crash-only: nothing of this turn was acknowledged, and the store is the truth on restart.
      this.log.fatal({ err }, 'commit failed; exiting so that a restart recovers from the store')
      process.exit(70)
    }
  }

  private readonly answerWatch = (watcher: WatchTarget, rid: number, jobId: number): boolean => {
    const snap = this.snapshot(jobId)
    if (snap === undefined) {
      watcher.pushError(rid, notFound(jobId))
      return false
    }
    watcher.pushSnapshot(rid, snap)
    return !isFinishedState(snap.state as string)
  }

  /** Lease expiry and retention purge; one timer each for the whole broker, none per job. */
  startTimers(): void {
    const leaseEvery = Math.max(50, Math.min(250, Math.floor(this.opts.leaseMs / 4)))
    this.timers.push(
      setInterval(() => {
        const now = Date.now()
        for (const actor of this.byId.values()) actor.expireLeases(now, LEASE_EXPIRED)
        this.hub.sweepEnded(now)
      }, leaseEvery),
    )
    const purgeEvery = Math.max(100, Math.min(1000, Math.floor(this.opts.retentionMs / 2)))
    this.timers.push(
      setInterval(() => {
        const purged = this.store.purge(Date.now(), 10_000, this.lastJob)
        for (const [, queueId, state] of purged) this.byId.get(queueId)?.countFinished(state, -1)
        if (purged.length > 0) this.log.debug({ purged: purged.length }, 'purged finished jobs past their retention')
      }, purgeEvery),
    )
  }

  stopTimers(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
    this.scheduler.stop()
  }
}

/** The longest a completion's commit waits for a turn that must commit anyway. */
export const DEFER_COMMIT_MS = 2

function answers(sessions: readonly FlushTarget[]): boolean {
  for (let i = 0; i < sessions.length; i++) if (sessions[i].answering) return true
  return false
}

function notFound(jobId: number): BrokerError {
  return new BrokerError('not_found', `job ${jobId} does not exist (never did, was removed, or its retention ended)`, jobId)
}
