// One Session per connection: it decodes frames, validates each message, calls the broker and the
// queue actors, and gathers its replies into one frame per turn. It holds what is per connection
// (consumers, leases held, watches) and nothing of a queue's state.

import type { Logger } from 'pino'
import { FrameWriter, decodeFrame } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { CloseCode, FINISHED_STATES, Limits, Op, PROTOCOL_VERSION, STATE_NAMES } from '../protocol/ops.js'
import { sameSecret } from './auth.js'
import { CONSUMER_LOST, type Broker } from './broker.js'
import { Consumer, type DeliveryTarget } from './consumer.js'
import type { JobRef } from './job.js'
import type { QueueActor } from './queue-actor.js'
import { State, type StateCode } from './lifecycle.js'
import {
  badRequest,
  binAt,
  nackOptsAt,
  optLease,
  optsAt,
  queueAt,
  queuesAt,
  settingsAt,
  stateAt,
  submitOptsAt,
  uintAt,
  optInt,
} from './validate.js'

/** The transport under a session (uWS in production; see uws.ts). */
export interface Socket {
  /** Sends one binary frame; false when it had to be buffered (backpressure). */
  send(frame: Uint8Array): boolean
  bufferedAmount(): number
  end(code: number, reason: string): void
  subscribe(topic: string): void
  unsubscribe(topic: string): void
}

export interface SessionConfig {
  authToken: string | null
  maxPayload: number
  maxFrame: number
  leaseMs: number
  serverName: string
}

/** Stop feeding deliveries above this much unsent data; resume below LOW_WATER on drain. */
const HIGH_WATER = 1024 * 1024
const LOW_WATER = 256 * 1024

export class Session implements DeliveryTarget {
  closed = false
  slow = false
  readonly watching = new Set<number>()
  // Two output buffers so that every message's bytes are contiguous by construction: `replies`
  // is written only by this session's request handling, one whole message per call, after the
  // request's effects; `pushes` gets what actors and the broker write while any request may be
  // being handled (deliver, popped, revoke, a waited submit's `submitted`, watch snapshots). The
  // frame of a turn is the replies, then the pushes (an error about an old delivery precedes a
  // new delivery of the same job; a submit's `submitted` precedes its watch snapshot).
  private readonly replies = new FrameWriter(512)
  private readonly pushes = new FrameWriter(512)
  private dirty = false
  /** This turn's frame holds more than deliveries (see Broker.flush: such a turn commits first). */
  answering = false
  private authed = false
  private client = 0
  private readonly consumers = new Map<number, Consumer>()
  private readonly pops = new Set<Consumer>()
  private readonly held = new Map<number, JobRef>()

  constructor(
    private readonly socket: Socket,
    private readonly broker: Broker,
    private readonly config: SessionConfig,
    private readonly log: Logger,
    readonly remote: string,
  ) {}

  // ---- input -------------------------------------------------------------------------------

  onFrame(frame: Uint8Array, isBinary: boolean): void {
    if (this.closed) return
    if (!isBinary)
      return this.writeError(0, new BrokerError('bad_frame', 'text frames are not part of the protocol: send binary MessagePack frames'))
    let messages: unknown[]
    try {
      messages = decodeFrame(frame)
    } catch (err) {
      return this.writeError(
        0,
        new BrokerError('bad_frame', `the frame is not a sequence of MessagePack values (${(err as Error).message})`),
      )
    }
    for (let i = 0; i < messages.length && !this.closed; i++) this.onMessage(messages[i])
    // Buffered job rows point into this frame, which uWS reuses after the callback: write them now.
    try {
      this.broker.store.flushInserts()
    } catch (err) {
      // Crash-only, as for a failed commit: nothing of this turn has been sent yet.
      this.log.fatal({ err }, 'writing jobs failed; exiting so that a restart recovers from the store')
      process.exit(70)
    }
  }

  private onMessage(m: unknown): void {
    if (!Array.isArray(m) || m.length < 2 || typeof m[0] !== 'number') {
      return this.writeError(0, new BrokerError('bad_request', 'a message is an array [op, rid, ...fields]'))
    }
    const op = m[0]
    const rid = m[1]
    if (!(typeof rid === 'number' && Number.isSafeInteger(rid) && rid >= 0)) {
      return this.writeError(0, new BrokerError('bad_request', 'rid (field 1) must be an unsigned integer'))
    }
    if (!this.authed && op !== Op.hello) {
      const err =
        this.config.authToken !== null
          ? new BrokerError('unauthorized', 'send hello with the token first')
          : new BrokerError('bad_request', 'send hello first')
      return this.refuse(rid, err, this.config.authToken !== null ? CloseCode.unauthorized : CloseCode.noHello)
    }
    try {
      this.handle(op, rid, m)
    } catch (err) {
      if (err instanceof BrokerError) return this.writeError(rid, err)
      this.log.error({ err, op, remote: this.remote }, 'internal error while handling a request')
      this.writeError(
        rid,
        new BrokerError(
          'internal',
          'the broker failed on this request (a bug, logged): its effect is unknown; use get/stats to check, or retry with an idempotency key',
        ),
      )
    }
  }

  private handle(op: number, rid: number, m: unknown[]): void {
    const b = this.broker
    const maxPayload = this.config.maxPayload
    switch (op) {
      case Op.submit: {
        const queue = queueAt(m, 2)
        const payload = binAt(m, 3, 'payload', maxPayload, false) as Uint8Array
        this.broker.refuseIfStopping()
        const opts = submitOptsAt(m, 4)
        const r = b.submit(this, rid, queue, payload, opts, this.client)
        if (r === null) return // waiting for room in a full queue: answered by pushSubmitted
        this.replies.array(4).uint(Op.submitted).uint(rid).uint(r.id).bool(r.duplicate)
        if (opts.watch) b.hub.requestWatch(this, rid, r.id)
        return this.markDirty()
      }
      case Op.ack: {
        const result = binAt(m, 4, 'result', maxPayload, true)
        const job = this.heldDelivery(m, true) // after the fields: a malformed ack lets go of nothing
        job.actor.ack(job, result)
        if (rid !== 0) this.ok(rid, null)
        return
      }
      case Op.nack: {
        const error = binAt(m, 4, 'error', maxPayload, true)
        const { retry, retryAfterMs } = nackOptsAt(m, 5)
        const job = this.heldDelivery(m, true)
        job.actor.failDelivery(job, error, retry, retryAfterMs)
        if (rid !== 0) this.ok(rid, null)
        return
      }
      case Op.submitMany:
        return this.submitMany(rid, m)
      case Op.consume: {
        const id = uintAt(m, 2, 'consumer')
        if (this.consumers.has(id)) badRequest(`consumer ${id} is already registered on this connection`)
        const queues = queuesAt(m, 3)
        const credit = uintAt(m, 4, 'credit', 0, Limits.maxCredit)
        const leaseMs = optLease(optsAt(m, 5, ['leaseMs']), this.config.leaseMs)
        this.broker.refuseIfStopping()
        const actors = queues.map((q) => b.actor(q))
        const consumer = new Consumer(id, this, actors, credit, leaseMs)
        for (const a of actors) a.consumers++
        this.consumers.set(id, consumer)
        this.ok(rid, null)
        return b.serve(consumer)
      }
      case Op.credit: {
        const consumer = this.consumer(m)
        consumer.credit = uintAt(m, 3, 'credit', 0, Limits.maxCredit)
        this.ok(rid, null)
        return b.serve(consumer)
      }
      case Op.stop: {
        const consumer = this.consumer(m)
        this.stopConsumer(consumer)
        this.consumers.delete(consumer.id)
        return this.ok(rid, null)
      }
      case Op.extend: {
        const job = this.heldDelivery(m, false)
        const leaseMs = uintAt(m, 4, 'leaseMs', Limits.minLeaseMs, Limits.maxLeaseMs)
        const deadline = job.actor.extend(job, leaseMs)
        if (rid !== 0) this.ok(rid, deadline)
        return
      }
      case Op.progress: {
        const job = this.heldDelivery(m, false)
        const value = binAt(m, 4, 'progress', maxPayload, false) as Uint8Array
        job.actor.progress(job, value)
        if (rid !== 0) this.ok(rid, null)
        return
      }
      case Op.pop:
        return this.pop(rid, m)
      case Op.watch: {
        b.hub.requestWatch(this, rid, uintAt(m, 2, 'job'))
        return b.scheduleFlush()
      }
      case Op.unwatch: {
        b.hub.unwatch(this, uintAt(m, 2, 'job'))
        return this.ok(rid, null)
      }
      case Op.get: {
        const snap = b.snapshotOf(uintAt(m, 2, 'job')) // before writing: a throw must leave no half message
        this.replies.array(3).uint(Op.snapshot).uint(rid).value(snap)
        return this.markDirty()
      }
      case Op.stats: {
        const queue = m[2] === undefined || m[2] === null ? null : queueAt(m, 2)
        return this.ok(rid, b.stats(queue))
      }
      case Op.ping:
        return this.ok(rid, null)
      case Op.cancel:
        return this.ok(rid, b.cancel(uintAt(m, 2, 'job')))
      case Op.retry:
        return this.ok(rid, b.retry(uintAt(m, 2, 'job')))
      case Op.remove:
        return this.ok(rid, b.remove(uintAt(m, 2, 'job')))
      case Op.listJobs: {
        const queue = queueAt(m, 2)
        const state = stateAt(m, 3, STATE_NAMES)
        const o = optsAt(m, 4, ['limit', 'cursor'])
        const limit = optInt(o, 'limit', 1, Limits.maxListLimit, Limits.defaultListLimit)
        return this.ok(
          rid,
          b.listJobs(queue, state as StateCode, optInt(o, 'cursor', 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), limit),
        )
      }
      case Op.redrive: {
        const queue = queueAt(m, 2)
        const limit = optInt(optsAt(m, 3, ['limit']), 'limit', 1, Limits.maxRedrive, Limits.maxRedrive)
        return this.ok(rid, b.redrive(queue, limit))
      }
      case Op.purge:
        return this.ok(rid, b.purgeQueue(queueAt(m, 2), stateAt(m, 3, FINISHED_STATES) as StateCode))
      case Op.pause:
      case Op.resume:
        return this.ok(rid, b.pause(queueAt(m, 2), op === Op.pause))
      case Op.configure:
        return this.ok(rid, b.configure(queueAt(m, 2), settingsAt(m, 3)))
      case Op.getQueue:
        return this.ok(rid, b.queueInfo(queueAt(m, 2)))
      case Op.hello:
        return this.hello(rid, m)
      default:
        throw new BrokerError('unknown_op', `op ${op} is not part of protocol version ${PROTOCOL_VERSION}`)
    }
  }

  private hello(rid: number, m: unknown[]): void {
    if (this.authed) badRequest('hello was already sent on this connection')
    const version = m[2]
    if (version !== PROTOCOL_VERSION) {
      return this.refuse(
        rid,
        new BrokerError('unsupported_version', `this broker speaks protocol version ${PROTOCOL_VERSION}`),
        CloseCode.unsupportedVersion,
      )
    }
    const token = m[3]
    if (this.config.authToken !== null && !(typeof token === 'string' && sameSecret(token, this.config.authToken))) {
      return this.refuse(rid, new BrokerError('unauthorized', 'the token is missing or wrong'), CloseCode.unauthorized)
    }
    const client = m[4] === undefined || m[4] === null ? 0 : uintAt(m, 4, 'client')
    this.authed = true
    this.client = client !== 0 ? client : this.broker.store.newClientId()
    const limits = {
      maxPayload: this.config.maxPayload,
      maxFrame: this.config.maxFrame,
      leaseMs: this.config.leaseMs,
      maxCredit: Limits.maxCredit,
    }
    this.replies
      .array(7)
      .uint(Op.welcome)
      .uint(rid)
      .uint(PROTOCOL_VERSION)
      .uint(this.client)
      .value(limits)
      .str(this.config.serverName)
      .uint(this.broker.lastJobId)
    this.markDirty()
  }

  private submitMany(rid: number, m: unknown[]): void {
    const queue = queueAt(m, 2)
    const items = m[3]
    if (!Array.isArray(items) || items.length === 0 || items.length > Limits.maxBatch)
      badRequest(`jobs (field 3) must be an array of 1-${Limits.maxBatch} [payload, opts] items`)
    // Validate everything first: the batch is applied whole or not at all.
    const payloads: Uint8Array[] = new Array(items.length)
    const options = new Array(items.length)
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      if (!Array.isArray(item)) badRequest(`jobs[${i}] must be an array [payload, opts]`)
      payloads[i] = binAt(item, 0, `jobs[${i}].payload`, this.config.maxPayload, false) as Uint8Array
      options[i] = submitOptsAt(item, 1)
      if (options[i].watch) badRequest('option watch is for submit only; watch batch jobs with watch')
    }
    this.broker.refuseIfStopping()
    // Effects first (each submit may deliver to a consumer of this very connection), reply after.
    const r = this.broker.submitMany(this, rid, queue, payloads, options, this.client)
    if (r !== null) this.writeSubmitted(this.replies, rid, r.ids, r.duplicates, true)
  }

  private pop(rid: number, m: unknown[]): void {
    if (rid === 0) badRequest('pop needs a non-zero rid: the job comes back in popped with that rid')
    const queues = queuesAt(m, 2)
    const timeoutMs = uintAt(m, 3, 'timeoutMs', 0, Limits.maxPopTimeoutMs)
    const leaseMs = optLease(optsAt(m, 4, ['leaseMs']), this.config.leaseMs)
    this.broker.refuseIfStopping()
    const actors: QueueActor[] = queues.map((q) => this.broker.actor(q))
    const consumer = new Consumer(0, this, actors, 1, leaseMs, rid)
    this.broker.serve(consumer)
    if (consumer.inflight !== 0) return // delivered at once
    if (timeoutMs === 0) {
      consumer.stopped = true
      return this.writePoppedNothing(rid)
    }
    this.pops.add(consumer)
    consumer.timer = setTimeout(() => {
      consumer.timer = null
      if (consumer.stopped || this.closed) return
      consumer.stopped = true
      this.pops.delete(consumer)
      this.writePoppedNothing(rid)
    }, timeoutMs)
  }

  private writePoppedNothing(rid: number): void {
    this.replies.array(3).uint(Op.popped).uint(rid).nil()
    this.markDirty()
  }

  private consumer(m: unknown[]): Consumer {
    const id = uintAt(m, 2, 'consumer')
    const consumer = this.consumers.get(id)
    if (consumer === undefined) badRequest(`no consumer ${id} on this connection`)
    return consumer
  }

  /**
   * The delivery named by [op, rid, job, attempt], if this connection still holds its lease. A
   * delivery revoked by a cancel is refused too; a settlement (`settle`) of it lets it go.
   */
  private heldDelivery(m: unknown[], settle: boolean): JobRef {
    const jobId = uintAt(m, 2, 'job')
    const attempt = uintAt(m, 3, 'attempt')
    const job = this.held.get(jobId)
    const revoked = job !== undefined && job.state !== State.active
    if (job === undefined || job.attempts + 1 !== attempt || revoked) {
      if (revoked && settle && job.attempts + 1 === attempt) job.actor.releaseRevoked(job)
      throw new BrokerError(
        'lease_expired',
        revoked
          ? `job ${jobId} attempt ${attempt} was cancelled: its result is not kept`
          : `job ${jobId} attempt ${attempt} is not held by this connection (lease expired, settled, or never delivered here)`,
        jobId,
      )
    }
    return job
  }

  private stopConsumer(consumer: Consumer): void {
    if (consumer.stopped) return
    consumer.stopped = true
    for (const a of consumer.actors) a.consumers--
  }

  // ---- DeliveryTarget ------------------------------------------------------------------------

  deliver(consumer: Consumer, job: JobRef, payload: Uint8Array, leaseMs: number): void {
    this.held.set(job.id, job)
    const w = this.pushes
    if (consumer.popRid !== 0) {
      consumer.stopped = true
      if (consumer.timer !== null) clearTimeout(consumer.timer)
      this.pops.delete(consumer)
      w.array(8).uint(Op.popped).uint(consumer.popRid)
    } else w.array(8).uint(Op.deliver).uint(consumer.id)
    w.uint(job.id)
      .raw(job.actor.nameBytes)
      .bin(payload)
      .uint(job.attempts + 1)
      .uint(job.leaseDeadline)
      .uint(leaseMs)
    this.markDirty(false)
  }

  forget(job: JobRef): void {
    if (this.held.get(job.id) === job) this.held.delete(job.id)
  }

  revoke(consumer: Consumer, job: JobRef): void {
    this.pushes
      .array(5)
      .uint(Op.revoke)
      .uint(consumer.popRid !== 0 ? 0 : consumer.id)
      .uint(job.id)
      .uint(job.attempts + 1)
      .str('cancelled')
    this.markDirty()
  }

  // ---- output ----------------------------------------------------------------------------------

  /** Output was written for this turn; anything but a delivery (`answering`) answers someone. */
  private markDirty(answering = true): void {
    if (answering) this.answering = true
    if (this.dirty) return
    this.dirty = true
    this.broker.markDirty(this)
  }

  private ok(rid: number, value: unknown): void {
    const w = this.replies.array(3).uint(Op.ok).uint(rid)
    if (value === null) w.nil()
    else if (typeof value === 'number') w.uint(value)
    else w.value(value)
    this.markDirty()
  }

  private writeSubmitted(w: FrameWriter, rid: number, ids: number[], duplicates: boolean[], many: boolean): void {
    if (!many) w.array(4).uint(Op.submitted).uint(rid).uint(ids[0]).bool(duplicates[0])
    else {
      w.array(4).uint(Op.submitted).uint(rid).array(ids.length)
      for (let i = 0; i < ids.length; i++) w.uint(ids[i])
      w.array(duplicates.length)
      for (let i = 0; i < duplicates.length; i++) w.bool(duplicates[i])
    }
    this.markDirty()
  }

  /** A submit that waited for room got in (written while another request may be handled). */
  pushSubmitted(rid: number, ids: number[], duplicates: boolean[], many: boolean): void {
    this.writeSubmitted(this.pushes, rid, ids, duplicates, many)
  }

  /** A watch's snapshot, written at the end of the turn (after a waited submit's `submitted`). */
  pushSnapshot(rid: number, snapshot: Record<string, unknown>): void {
    this.pushes.array(3).uint(Op.snapshot).uint(rid).value(snapshot)
    this.markDirty()
  }

  pushError(rid: number, err: BrokerError): void {
    this.writeErrorTo(this.pushes, rid, err)
  }

  writeError(rid: number, err: BrokerError): void {
    this.writeErrorTo(this.replies, rid, err)
  }

  private writeErrorTo(out: FrameWriter, rid: number, err: BrokerError): void {
    const w = out.array(5).uint(Op.error).uint(rid).str(err.code).str(err.message)
    if (err.jobId !== undefined) w.uint(err.jobId)
    else w.nil()
    this.markDirty()
  }

  /** Answers with an error, sends it now, and closes the connection with `code`. */
  private refuse(rid: number, err: BrokerError, code: number): void {
    this.writeError(rid, err)
    this.flush()
    this.log.info({ remote: this.remote, code: err.code }, 'connection refused')
    this.socket.end(code, err.message.slice(0, 100))
  }

  /** Called by the broker at the end of the turn, after the commit. */
  flush(): void {
    this.dirty = false
    this.answering = false
    if (this.closed) return
    let w = this.replies
    if (this.pushes.length !== 0) {
      if (w.length === 0) w = this.pushes
      else w.raw(this.pushes.take())
    }
    if (w.length === 0) return
    const frame = w.take()
    const sent = this.socket.send(frame)
    if (frame.length > 256 * 1024) w.reset()
    if (this.pushes.length === 0 && this.pushes.buf.length > 256 * 1024) this.pushes.reset()
    if (!sent || this.socket.bufferedAmount() > HIGH_WATER) this.slow = true
  }

  /** The socket drained: feed its consumers again. */
  onDrain(): void {
    if (!this.slow || this.socket.bufferedAmount() > LOW_WATER) return
    this.slow = false
    for (const c of this.consumers.values()) this.broker.serve(c)
    for (const c of this.pops) this.broker.serve(c)
  }

  subscribe(topic: string): void {
    this.socket.subscribe(topic)
  }

  unsubscribe(topic: string): void {
    this.socket.unsubscribe(topic)
  }

  /** The connection is gone: its consumers stop and its unsettled jobs go back (attempt + 1). */
  onClose(): void {
    this.closed = true
    for (const c of this.consumers.values()) this.stopConsumer(c)
    for (const c of this.pops) {
      c.stopped = true
      if (c.timer !== null) clearTimeout(c.timer)
    }
    this.pops.clear()
    // On graceful shutdown nothing is failed: active jobs are simply queued again after restart.
    if (!this.broker.stopping) {
      for (const job of [...this.held.values()]) {
        if (job.state === State.active) job.actor.failDelivery(job, CONSUMER_LOST, true)
        else job.actor.releaseRevoked(job) // cancelled while active: nothing left to fail
      }
    }
    this.held.clear()
    this.broker.hub.dropWatcher(this)
  }
}
