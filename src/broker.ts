// The Broker is the registry of queue actors and the owner of the event-loop turn: every write of
// a turn joins one store transaction, and `flush()` commits it before anything leaves the broker
// (replies, deliveries, events). Nothing acknowledged can be lost; nothing unacknowledged leaks.

import type { Logger } from 'pino'
import { QueueActor, type ActorContext } from './queue-actor.js'
import { JobRef } from './job.js'
import type { Consumer } from './consumer.js'
import { Store } from './store.js'
import { WatchHub, type Publisher, type Watcher } from './watch-hub.js'
import { State, isTerminal, type EventType } from './lifecycle.js'
import { BrokerError } from '../protocol/errors.js'
import { encodeValue } from '../protocol/codec.js'
import { STATE_NAMES } from '../protocol/ops.js'

export interface BrokerOptions {
  leaseMs: number
  retentionMs: number
  /** Bytes of queued payloads kept in memory; the rest is read from the store at dispatch. */
  payloadCacheBytes: number
}

export interface SubmitOptions {
  maxAttempts: number
  leaseMs: number
  retentionMs: number
  key: string | null
  /** -1: not a re-send. */
  resendAfter: number
  /** The submitter also watches the job (answered like `watch`, same rid). */
  watch: boolean
}

export const DEFAULT_SUBMIT: Readonly<SubmitOptions> = Object.freeze({
  maxAttempts: 3,
  leaseMs: 0,
  retentionMs: -1,
  key: null,
  resendAfter: -1,
  watch: false,
})

/** A connection as the broker sees it at the end of a turn. */
export interface FlushTarget extends Watcher {
  flush(): void
  writeSnapshot(rid: number, snapshot: Record<string, unknown>): void
  writeError(rid: number, error: BrokerError): void
}

const LEASE_EXPIRED = encodeValue({ name: 'LeaseExpired', message: 'the lease ended before the job was settled' })
export const CONSUMER_LOST = encodeValue({ name: 'ConsumerLost', message: 'the connection holding the job closed' })

export class Broker<S extends FlushTarget = FlushTarget> implements ActorContext {
  readonly hub: WatchHub<S>
  readonly defaultRetentionMs: number
  private readonly byName = new Map<string, QueueActor>()
  private readonly byId = new Map<number, QueueActor>()
  private lastJob: number
  private cacheUsed = 0
  private flushScheduled = false
  private readonly dirty: S[] = []
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  /** Set by graceful shutdown: closing sockets then does not count as consumers lost. */
  stopping = false

  constructor(
    readonly store: Store,
    publisher: Publisher,
    readonly opts: BrokerOptions,
    private readonly log: Logger,
  ) {
    this.hub = new WatchHub<S>(publisher)
    this.defaultRetentionMs = opts.retentionMs
    this.lastJob = store.lastJobId()
    store.onWrite = () => this.scheduleFlush()
  }

  /** Rebuilds every queue from the store: every unfinished job is ready again (at-least-once). */
  recover(): { jobs: number; queues: number } {
    for (const [id, name] of this.store.queues()) this.addActor(id, name)
    let jobs = 0
    let actor: QueueActor | undefined
    for (const [id, queueId] of this.store.recover()) {
      if (actor?.id !== queueId) actor = this.byId.get(queueId)
      if (actor === undefined) continue // a job of an unknown queue cannot exist (same transaction)
      actor.restore(id)
      jobs++
    }
    for (const [queueId, state, count] of this.store.finishedCounts()) this.byId.get(queueId)?.countFinished(state, count)
    return { jobs, queues: this.byId.size }
  }

  get lastJobId(): number {
    return this.lastJob
  }

  private addActor(id: number, name: string): QueueActor {
    const actor = new QueueActor(id, name, this)
    this.byName.set(name, actor)
    this.byId.set(id, actor)
    return actor
  }

  actor(name: string): QueueActor {
    return this.byName.get(name) ?? this.addActor(this.store.createQueue(name), name)
  }

  /** Stores a job in this turn's transaction and hands it to its queue. */
  submit(queue: string, payload: Uint8Array, o: SubmitOptions, client: number, seq: number): { id: number; duplicate: boolean } {
    const actor = this.actor(queue)
    if (o.key !== null) {
      const existing = this.store.findByKey(actor.id, o.key)
      if (existing !== undefined) return { id: existing, duplicate: true }
    }
    if (o.resendAfter >= 0) {
      const existing = this.store.findResend(o.resendAfter, client, seq)
      if (existing !== undefined) return { id: existing, duplicate: true }
    }
    const id = ++this.lastJob
    const now = Date.now()
    this.store.insert(id, actor.id, o.maxAttempts, o.leaseMs, o.retentionMs, o.key, client, seq, payload, now)
    actor.enqueue(new JobRef(id, actor, 0, o.maxAttempts, o.leaseMs, o.retentionMs, null), payload)
    return { id, duplicate: false }
  }

  /** Feeds a consumer that has credit from its queues in priority order; parks it if all are empty. */
  serve(consumer: Consumer): void {
    if (!consumer.ready || this.stopping) return
    const actors = consumer.actors
    for (let i = 0; i < actors.length; i++) if (!actors[i].pull(consumer)) return
    for (let i = 0; i < actors.length; i++) actors[i].park(consumer, i)
  }

  emit(job: JobRef, type: EventType, data: Uint8Array | null): void {
    if (!this.hub.isWatched(job.id)) return
    const attempt = job.state === State.active ? job.attempts + 1 : job.attempts
    this.hub.emit(job.id, type, STATE_NAMES[job.state], attempt, data, isTerminal(job.state))
    this.scheduleFlush()
  }

  cacheTake(bytes: number): boolean {
    if (this.cacheUsed + bytes > this.opts.payloadCacheBytes) return false
    this.cacheUsed += bytes
    return true
  }

  cacheRelease(bytes: number): void {
    this.cacheUsed -= bytes
  }

  /** The job as watchers and `get` see it, or undefined if it does not exist (any more). */
  snapshot(jobId: number): Record<string, unknown> | undefined {
    const row = this.store.row(jobId)
    if (row === undefined) return undefined
    const snap: Record<string, unknown> = {
      id: row.id,
      queue: row.queue,
      state: STATE_NAMES[row.state],
      attempt: row.attempts,
      maxAttempts: row.maxAttempts,
      createdAt: row.createdAt,
    }
    if (row.finishedAt !== null) snap.finishedAt = row.finishedAt
    if (row.result !== null) snap.result = row.result
    if (row.error !== null) snap.error = row.error
    if (row.state === State.queued) {
      const job = this.byName.get(row.queue)?.leasedJob(jobId)
      if (job !== undefined) {
        snap.state = STATE_NAMES[State.active]
        snap.attempt = job.attempts + 1
        snap.leaseDeadline = job.leaseDeadline
        if (job.progress !== null) snap.progress = job.progress
      }
    }
    return snap
  }

  stats(queue: string | null): Record<string, unknown> {
    const queues: Record<string, unknown> = {}
    const actors = queue === null ? [...this.byName.values()] : [this.byName.get(queue)].filter((a) => a !== undefined)
    for (const a of actors) {
      queues[a.name] = { queued: a.queuedCount, active: a.activeCount, consumers: a.consumers, completed: a.completed, failed: a.failed }
    }
    return { queues }
  }

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

  /** End of turn: commit, publish events, answer new watches, send every connection's frame. */
  readonly flush = (): void => {
    this.flushScheduled = false
    try {
      this.store.commit()
    } catch (err) {
      // Crash-only: nothing of this turn was acknowledged, and the store is the truth on restart.
      this.log.fatal({ err }, 'commit failed; exiting so that a restart recovers from the store')
      process.exit(70)
    }
    if (this.hub.pending) this.hub.flush(this.answerWatch)
    const dirty = this.dirty
    for (let i = 0; i < dirty.length; i++) dirty[i].flush()
    dirty.length = 0
  }

  private readonly answerWatch = (watcher: S, rid: number, jobId: number): boolean => {
    const snap = this.snapshot(jobId)
    if (snap === undefined) {
      watcher.writeError(rid, new BrokerError('not_found', `job ${jobId} does not exist (or its retention ended)`, jobId))
      return false
    }
    watcher.writeSnapshot(rid, snap)
    return snap.state !== 'completed' && snap.state !== 'failed'
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
        for (const [queueId, state] of purged) this.byId.get(queueId)?.countFinished(state, -1)
        if (purged.length > 0) this.log.debug({ purged: purged.length }, 'purged finished jobs past their retention')
      }, purgeEvery),
    )
  }

  stopTimers(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
  }
}
