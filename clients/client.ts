// The SDK's connection: requests and replies, one frame per microtask turn, and reconnection.
// After a reconnect it re-registers consumers, resumes watches (a fresh snapshot) and re-sends
// unconfirmed submits marked `resendAfter`, so the broker returns the job it may already have.

import { FrameWriter, decodeFrame, decodeValue, encodeValue } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { Op, PROTOCOL_VERSION, WS_PATH } from '../protocol/ops.js'
import { QueuedIterator } from './queued-iterator.js'
import { openTransport, type Transport } from './transport.js'
import { WorkerImpl } from './worker.js'
import type {
  ConnectOptions,
  ConsumeOptions,
  ErrorInfo,
  Handler,
  JobSnapshot,
  JobState,
  PopOptions,
  PoppedJob,
  Stats,
  SubmitOptions,
  Submitted,
  WatchEvent,
  EventType,
  Worker,
} from './types.js'

/** The job ended `failed`; `error` is what the last attempt's handler threw. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError'
  readonly code = 'job_failed'
  constructor(
    readonly jobId: string,
    readonly error: ErrorInfo | undefined,
  ) {
    super(`job ${jobId} failed: ${error?.message ?? 'no error message'}`)
  }
}

/**
 * What happens to a pending request when the connection drops: `submit` is re-sent marked
 * `resendAfter` (the broker de-duplicates it); `idempotent` (get, stats, pop, ping) is re-sent as
 * is; `settle` (ack/nack/extend/progress of a popped job) fails, its lease went with the
 * connection; `internal` and `watch` are dropped: workers and watch streams re-register themselves.
 */
type Kind = 'submit' | 'idempotent' | 'settle' | 'internal' | 'watch'

interface Pending {
  kind: Kind
  resolve(value: unknown): void
  reject(err: BrokerError): void
  /** Writes the request; `resend` is true when a previous connection may have applied it. */
  encode(w: FrameWriter, rid: number, resend: boolean): void
  /** Connection generation it was last written on (0: not yet). */
  gen: number
}

export interface Limits {
  maxPayload: number
  maxFrame: number
  leaseMs: number
  maxCredit: number
}

const MAX_FRAME_BYTES = 1024 * 1024

/** Opens a connection to a broker (ws://host:port); resolves once the broker welcomed it. */
export async function connect(url: string, opts: ConnectOptions = {}): Promise<Broker> {
  const broker = new Broker(url, opts)
  await broker.start()
  return broker
}

export class Broker {
  private readonly url: string
  private transport: Transport | null = null
  private readonly out = new FrameWriter(4096)
  private flushQueued = false
  private nextRid = 1
  private nextConsumerId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly workers = new Map<number, WorkerImpl>()
  private readonly watches = new Map<number, Set<WatchStream>>()
  private client = 0
  /** Highest job id when this connection started: re-sent submits look for ids above it. */
  private connLastJob = 0
  /** Connection generation: bumps on every (re)connect; deliveries of older ones are lost. */
  gen = 0
  private ready = false
  private closed = false
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  limits: Limits = { maxPayload: 1024 * 1024, maxFrame: 16 * 1024 * 1024, leaseMs: 30_000, maxCredit: 100_000 }

  constructor(
    url: string,
    private readonly opts: ConnectOptions,
  ) {
    const u = new URL(url)
    if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH
    this.url = u.toString()
  }

  // ---- connection ---------------------------------------------------------------------------

  async start(): Promise<void> {
    const deadline = Date.now() + (this.opts.connectTimeoutMs ?? 10_000)
    let delay = 50
    for (;;) {
      try {
        return await this.open(Math.max(100, deadline - Date.now()))
      } catch (err) {
        if (err instanceof BrokerError && (err.code === 'unauthorized' || err.code === 'unsupported_version')) throw err
        if (Date.now() + delay >= deadline)
          throw new BrokerError('connection_lost', `cannot connect to ${this.url}: ${(err as Error).message}`)
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(delay * 2, 1000)
      }
    }
  }

  private async open(timeoutMs: number): Promise<void> {
    let welcomed: (() => void) | null = null
    let refused: ((e: Error) => void) | null = null
    const welcome = new Promise<void>((resolve, reject) => {
      welcomed = resolve
      refused = reject
    })
    const transport = await openTransport(
      this.url,
      {
        frame: (data) => this.onFrame(data),
        closed: (code, reason) => {
          if (this.transport === transport) this.onClosed()
          refused?.(new Error(`connection closed during hello (${code} ${reason})`))
        },
      },
      timeoutMs,
    )
    this.transport = transport
    const rid = this.nextRid++
    this.pending.set(rid, {
      kind: 'internal',
      gen: 0,
      encode() {},
      resolve: () => welcomed?.(),
      reject: (e) => refused?.(e),
    })
    const w = new FrameWriter(64)
    w.array(5).uint(Op.hello).uint(rid).uint(PROTOCOL_VERSION)
    if (this.opts.token !== undefined) w.str(this.opts.token)
    else w.nil()
    if (this.client !== 0) w.uint(this.client)
    else w.nil()
    transport.send(w.copy())
    const timer = setTimeout(() => refused?.(new Error('no welcome from the broker in time')), timeoutMs)
    try {
      await welcome
    } catch (err) {
      this.pending.delete(rid)
      this.transport = null
      transport.close()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  private onWelcome(m: unknown[]): void {
    this.client = m[3] as number
    this.limits = m[4] as Limits
    this.connLastJob = m[6] as number
    this.gen++
    this.ready = true
    // Re-send what the previous connection did not see answered, in request order.
    for (const [rid, p] of this.pending) {
      if (p.gen === this.gen) continue
      const resend = p.gen !== 0
      p.gen = this.gen
      p.encode(this.out, rid, resend)
    }
    for (const worker of this.workers.values()) worker.register()
    for (const set of this.watches.values()) for (const s of set) s.subscribe()
    this.schedule()
  }

  private onClosed(): void {
    this.transport = null
    this.ready = false
    this.out.reset()
    for (const [rid, p] of this.pending) {
      if (p.kind === 'settle') {
        this.pending.delete(rid)
        p.reject(new BrokerError('connection_lost', 'the connection closed before the broker confirmed; the delivery is released'))
      } else if (p.kind === 'internal' || p.kind === 'watch') {
        this.pending.delete(rid)
        p.reject(new BrokerError('connection_lost', 'connection lost'))
      }
    }
    for (const worker of this.workers.values()) worker.connectionLost()
    if (this.closed) return
    if (this.opts.reconnect === false) return this.failEverything(new BrokerError('connection_lost', 'the connection to the broker closed'))
    this.reconnect(50)
  }

  private reconnect(delay: number): void {
    const max = this.opts.maxReconnectDelayMs ?? 5_000
    const jittered = Math.min(delay, max) * (0.5 + Math.random() / 2)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      if (this.closed) return
      this.open(Math.max(1000, max)).catch(() => {
        if (!this.closed) this.reconnect(delay * 2)
      })
    }, jittered)
  }

  private failEverything(err: BrokerError): void {
    for (const [rid, p] of this.pending) {
      this.pending.delete(rid)
      p.reject(err)
    }
    for (const set of this.watches.values()) for (const s of [...set]) s.fail(err)
  }

  /** Closes the connection. Call worker.close() first to let running handlers settle. */
  async close(): Promise<void> {
    if (this.closed) return
    this.flushNow()
    this.closed = true
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    for (const worker of this.workers.values()) worker.connectionLost()
    this.failEverything(new BrokerError('closed', 'the client was closed'))
    const t = this.transport
    this.transport = null
    this.ready = false
    t?.close(1000, 'client closed')
  }

  // ---- output --------------------------------------------------------------------------------

  /** The frame being built for this turn (only while connected). */
  get writer(): FrameWriter | null {
    return this.ready ? this.out : null
  }

  schedule(): void {
    if (this.out.length >= MAX_FRAME_BYTES) return this.flushNow()
    if (this.flushQueued) return
    this.flushQueued = true
    queueMicrotask(this.flushNow)
  }

  private readonly flushNow = (): void => {
    this.flushQueued = false
    if (!this.ready || this.transport === null || this.out.length === 0) return
    this.transport.send(this.out.copy())
  }

  /** Sends a request and resolves with its reply's value. */
  request<T>(kind: Kind, encode: Pending['encode']): Promise<T> {
    return new Promise<T>((resolve, reject) => void this.send({ kind, encode, resolve: resolve as (v: unknown) => void, reject, gen: 0 }))
  }

  /**
   * Registers a request and writes it now if connected, else when the connection is back (or
   * fails it at once when the client is closed or does not reconnect). Returns its rid.
   */
  private send(p: Pending): number {
    const rid = this.nextRid++
    if (this.closed) {
      p.reject(new BrokerError('closed', 'the client was closed'))
      return rid
    }
    this.pending.set(rid, p)
    if (this.ready) {
      p.gen = this.gen
      p.encode(this.out, rid, false)
      this.schedule()
    } else if (this.opts.reconnect === false) {
      this.pending.delete(rid)
      p.reject(new BrokerError('connection_lost', 'not connected'))
    }
    return rid
  }

  /**
   * Sends a request whose reply must be handled synchronously, in frame order: a watch's
   * snapshot must be seen before the events that follow it in the same network read.
   */
  requestSync(kind: Kind, encode: Pending['encode'], onReply: (m: unknown[]) => void, onError: (err: BrokerError) => void): void {
    this.send({ kind, encode, resolve: onReply as (v: unknown) => void, reject: onError, gen: 0 })
  }

  /** Reserves `n` consecutive request ids (submit_many uses rid … rid+n-1 as its sequence). */
  private reserveRids(n: number): void {
    this.nextRid += n - 1
  }

  // ---- input ---------------------------------------------------------------------------------

  private onFrame(data: Uint8Array): void {
    let messages: unknown[]
    try {
      messages = decodeFrame(data)
    } catch {
      return this.opts.onError?.(new BrokerError('bad_frame', 'the broker sent a frame that is not MessagePack'))
    }
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as unknown[]
      switch (m[0]) {
        case Op.deliver:
          this.workers.get(m[1] as number)?.onDeliver(m)
          break
        case Op.submitted:
        case Op.ok:
        case Op.popped:
        case Op.snapshot:
          this.settle(m[1] as number, m)
          break
        case Op.event: {
          const set = this.watches.get(m[1] as number)
          if (set !== undefined) {
            const ev = toEvent(m)
            for (const s of [...set]) s.onEvent(ev)
          }
          break
        }
        case Op.error:
          this.onError(m)
          break
        case Op.welcome: {
          const p = this.pending.get(m[1] as number)
          this.pending.delete(m[1] as number)
          this.onWelcome(m)
          p?.resolve(undefined)
          break
        }
      }
    }
  }

  private settle(rid: number, m: unknown[]): void {
    const p = this.pending.get(rid)
    if (p === undefined) return
    this.pending.delete(rid)
    p.resolve(m)
  }

  private onError(m: unknown[]): void {
    const rid = m[1] as number
    const err = new BrokerError(m[2] as BrokerError['code'], m[3] as string, (m[4] as number | null) ?? undefined)
    const p = rid === 0 ? undefined : this.pending.get(rid)
    if (p !== undefined) {
      this.pending.delete(rid)
      return p.reject(err)
    }
    // Unsolicited: a pipelined ack/nack/extend/progress (rid 0) was refused, usually lease_expired.
    if (err.code === 'lease_expired' && err.jobId !== undefined) {
      for (const w of this.workers.values()) w.onLeaseLost(err.jobId)
    }
    this.opts.onError?.(err)
  }

  // ---- API -----------------------------------------------------------------------------------

  /** Submits a job; resolves once the broker has durably stored it. */
  submit<P = unknown>(queue: string, payload: P, opts: SubmitOptions = {}): Promise<Submitted> {
    const bytes = encodeValue(payload)
    const wireOpts = submitWireOpts(opts)
    const connLastJob = this.connLastJob
    const done = this.request<unknown[]>('submit', (w, rid, resend) =>
      writeSubmit(w, rid, queue, bytes, wireOpts, resend ? connLastJob : -1),
    )
    return withSignal(
      done.then((m) => ({ id: String(m[2]), duplicate: m[3] as boolean })),
      opts.signal,
    )
  }

  /**
   * Submits many jobs to one queue in one atomic request (all stored, or none). `opts` apply to
   * every job, except idempotency keys: `keys[i]` is job i's.
   */
  async submitMany<P = unknown>(
    queue: string,
    payloads: P[],
    opts: Omit<SubmitOptions, 'key'> & { keys?: string[] } = {},
  ): Promise<{ ids: string[]; duplicates: boolean[] }> {
    if ((opts as SubmitOptions).key !== undefined) throw new BrokerError('bad_request', 'submitMany takes one key per job: { keys: [...] }')
    if (opts.keys !== undefined && opts.keys.length !== payloads.length)
      throw new BrokerError('bad_request', `submitMany got ${opts.keys.length} keys for ${payloads.length} jobs`)
    if (payloads.length === 0) return { ids: [], duplicates: [] }
    const encoded = payloads.map((p) => encodeValue(p))
    const keys = opts.keys
    const wireOpts = submitWireOpts(opts)
    const connLastJob = this.connLastJob
    const request = this.request<unknown[]>('submit', (w, rid, resend) => {
      w.array(4).uint(Op.submitMany).uint(rid).str(queue).array(encoded.length)
      const o = resend ? { ...wireOpts, resendAfter: connLastJob } : wireOpts
      for (let i = 0; i < encoded.length; i++) {
        w.array(2).bin(encoded[i])
        if (keys !== undefined) w.value({ ...o, key: keys[i] })
        else if (o === null) w.nil()
        else w.value(o)
      }
    })
    // Item i is de-duplicated on re-send by sequence rid + i: keep those ids unused.
    this.reserveRids(encoded.length)
    const m = await withSignal(request, opts.signal)
    return { ids: (m[2] as number[]).map(String), duplicates: m[3] as boolean[] }
  }

  /** Runs `handler` for each job of `queue` (or of several queues, first has priority). */
  consume<P = unknown, R = unknown>(queue: string | string[], handler: Handler<P, R>, opts: ConsumeOptions = {}): Worker {
    const worker = new WorkerImpl(this, this.nextConsumerId++, Array.isArray(queue) ? queue : [queue], handler as Handler, opts)
    this.workers.set(worker.id, worker)
    if (this.ready) worker.register()
    return worker
  }

  /** @internal */
  dropWorker(worker: WorkerImpl): void {
    this.workers.delete(worker.id)
  }

  /** Streams the job's snapshot, then every event, and ends after a terminal state. */
  watch<R = unknown>(id: string, opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<WatchEvent<R>> {
    const stream = this.openStream(parseId(id), opts.signal)
    if (stream.iterator.finished) return stream.iterator as AsyncIterableIterator<WatchEvent<R>>
    if (this.ready) stream.subscribe()
    else if (this.closed) stream.fail(new BrokerError('closed', 'the client was closed'))
    else if (this.opts.reconnect === false) stream.fail(new BrokerError('connection_lost', 'not connected'))
    // else: subscribed when the connection is back (onWelcome)
    return stream.iterator as AsyncIterableIterator<WatchEvent<R>>
  }

  /** Registers a watch stream (its snapshot is requested by the caller). */
  private openStream(jobId: number, signal: AbortSignal | undefined): WatchStream {
    const stream = new WatchStream(this, jobId)
    let set = this.watches.get(jobId)
    if (set === undefined) this.watches.set(jobId, (set = new Set()))
    set.add(stream)
    stream.iterator.onFinish = () => this.unwatch(stream)
    if (signal !== undefined) {
      if (signal.aborted) stream.fail(new BrokerError('aborted', 'the watch was aborted'))
      else signal.addEventListener('abort', () => stream.fail(new BrokerError('aborted', 'the watch was aborted')), { once: true })
    }
    return stream
  }

  /**
   * Submits a job and waits for its result, in one round trip (submit with `watch`); throws
   * JobFailedError if it ends failed, BrokerError `timeout` after timeoutMs.
   */
  run<R = unknown, P = unknown>(queue: string, payload: P, opts: SubmitOptions & { timeoutMs?: number } = {}): Promise<R> {
    const bytes = encodeValue(payload)
    const wireOpts = { ...submitWireOpts(opts), watch: true }
    const connLastJob = this.connLastJob
    const ac = new AbortController()
    const submitted = new Promise<WatchStream>((resolve, reject) => {
      let stream: WatchStream | null = null
      const p: Pending = {
        kind: 'submit',
        gen: 0,
        encode: (w, rid, resend) => writeSubmit(w, rid, queue, bytes, wireOpts, resend ? connLastJob : -1),
        // Called synchronously, in frame order: `submitted`, then `snapshot` under the same rid.
        resolve: (m) => {
          const msg = m as unknown[]
          if (msg[0] === Op.submitted) {
            stream = this.openStream(msg[2] as number, ac.signal)
            p.kind = 'watch' // from now on the stream re-watches by itself after a reconnect
            this.pending.set(rid, p)
            resolve(stream)
          } else stream?.onSnapshot(msg[2] as Record<string, unknown>)
        },
        reject: (err) => {
          if (stream === null) reject(err)
          else if (err.code !== 'connection_lost') stream.fail(err)
        },
      }
      const rid = this.send(p)
    })
    return this.waitTerminal(
      submitted.then((s) => s.iterator as AsyncIterableIterator<WatchEvent<R>>),
      () => 'the job',
      ac,
      opts,
    )
  }

  private unwatch(stream: WatchStream): void {
    const set = this.watches.get(stream.jobId)
    if (set === undefined || !set.delete(stream)) return
    if (set.size > 0) return
    this.watches.delete(stream.jobId)
    if (!stream.reachedEnd && this.ready && !this.closed) {
      this.request('internal', (w, rid) => w.array(3).uint(Op.unwatch).uint(rid).uint(stream.jobId)).catch(() => {})
    }
  }

  /** Waits for the job's result; throws JobFailedError if it ended failed. */
  result<R = unknown>(id: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<R> {
    const ac = new AbortController()
    return this.waitTerminal(Promise.resolve(this.watch<R>(id, { signal: ac.signal })), () => `job ${id}`, ac, opts)
  }

  /** Follows a watch to its terminal state: the result, or JobFailedError / timeout / aborted. */
  private async waitTerminal<R>(
    events: Promise<AsyncIterableIterator<WatchEvent<R>>>,
    what: () => string,
    ac: AbortController,
    opts: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<R> {
    const onAbort = () => ac.abort()
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    const timer =
      opts.timeoutMs === undefined
        ? null
        : setTimeout(() => {
            timedOut = true
            ac.abort()
          }, opts.timeoutMs)
    let last: WatchEvent<R> | undefined
    try {
      for await (const ev of await withSignal(events, ac.signal)) {
        last = ev
        if (ev.state === 'completed') return ev.result as R
        if (ev.state === 'failed') throw new JobFailedError(ev.id, ev.error)
      }
      throw new BrokerError('internal', `the watch of ${what()} ended without a terminal state`)
    } catch (err) {
      if (timedOut)
        throw new BrokerError('timeout', `${last === undefined ? what() : `job ${last.id}`} did not finish within ${opts.timeoutMs} ms`)
      throw err
    } finally {
      if (timer !== null) clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** The job's current snapshot. */
  async get<R = unknown>(id: string): Promise<JobSnapshot<R>> {
    const jobId = parseId(id)
    const m = await this.request<unknown[]>('idempotent', (w, rid) => w.array(3).uint(Op.get).uint(rid).uint(jobId))
    return toSnapshot(m[2] as Record<string, unknown>) as JobSnapshot<R>
  }

  /** One-shot blocking pop: the next job of the first non-empty queue, or null after timeoutMs. */
  async pop<P = unknown>(queue: string | string[], opts: PopOptions = {}): Promise<PoppedJob<P> | null> {
    const queues = Array.isArray(queue) ? queue : [queue]
    const timeoutMs = opts.timeoutMs ?? 0
    const m = await withSignal(
      this.request<unknown[]>('idempotent', (w, rid) => {
        w.array(5).uint(Op.pop).uint(rid).array(queues.length)
        for (const q of queues) w.str(q)
        w.uint(timeoutMs)
        if (opts.leaseMs !== undefined) w.value({ leaseMs: opts.leaseMs })
        else w.nil()
      }),
      opts.signal,
    )
    if (m[2] === null || m[2] === undefined) return null
    return new PoppedJobImpl<P>(this, m[2] as number, m[3] as string, decodeValue(m[4] as Uint8Array) as P, m[5] as number, m[6] as number)
  }

  /** Queue statistics (one queue, or all). */
  async stats(queue?: string): Promise<Stats> {
    const m = await this.request<unknown[]>('idempotent', (w, rid) => {
      w.array(3).uint(Op.stats).uint(rid)
      if (queue === undefined) w.nil()
      else w.str(queue)
    })
    return m[2] as Stats
  }

  /** Round trip to the broker. */
  async ping(): Promise<void> {
    await this.request('idempotent', (w, rid) => w.array(2).uint(Op.ping).uint(rid))
  }

  /** @internal settle a popped job, awaiting the broker's confirmation */
  settleRequest(encode: Pending['encode']): Promise<unknown> {
    return this.request('settle', encode)
  }

  /** @internal requests whose loss on reconnect is repaired by the caller (consume, credit, stop) */
  internalRequest(encode: Pending['encode']): Promise<unknown> {
    return this.request('internal', encode)
  }
}

/** One `watch()` iteration: buffers events until its snapshot arrived, ends at a terminal state. */
class WatchStream {
  readonly iterator = new QueuedIterator<WatchEvent>()
  private haveSnapshot = false
  reachedEnd = false

  constructor(
    private readonly broker: Broker,
    readonly jobId: number,
  ) {}

  /** (Re)subscribes: the broker answers with a fresh snapshot, events follow. */
  subscribe(): void {
    this.haveSnapshot = false
    this.broker.requestSync(
      'watch',
      (w, rid) => w.array(3).uint(Op.watch).uint(rid).uint(this.jobId),
      (m) => this.onSnapshot(m[2] as Record<string, unknown>),
      (err) => {
        if (err.code !== 'connection_lost') this.fail(err)
      },
    )
  }

  onSnapshot(raw: Record<string, unknown>): void {
    if (this.iterator.finished) return
    this.haveSnapshot = true
    const snap = toSnapshot(raw)
    const ev: WatchEvent = {
      type: 'snapshot',
      state: snap.state,
      id: snap.id,
      attempt: snap.attempt,
      at: snap.finishedAt ?? snap.createdAt,
    }
    if (snap.result !== undefined) ev.result = snap.result
    if (snap.error !== undefined) ev.error = snap.error
    if (snap.progress !== undefined) ev.progress = snap.progress
    this.iterator.push(ev)
    if (snap.state === 'completed' || snap.state === 'failed') this.finish()
  }

  onEvent(ev: WatchEvent): void {
    // Events before the snapshot are already reflected in it (the broker answers watches last).
    if (!this.haveSnapshot || this.iterator.finished) return
    this.iterator.push(ev)
    if (ev.state === 'completed' || ev.state === 'failed') this.finish()
  }

  private finish(): void {
    this.reachedEnd = true
    this.iterator.end()
  }

  fail(err: unknown): void {
    this.iterator.fail(err)
  }
}

class PoppedJobImpl<P> implements PoppedJob<P> {
  readonly id: string
  constructor(
    private readonly broker: Broker,
    private readonly jobId: number,
    readonly queue: string,
    readonly payload: P,
    readonly attempt: number,
    public leaseDeadline: number,
  ) {
    this.id = String(jobId)
  }

  async ack(result?: unknown): Promise<void> {
    const bytes = encodeValue(result)
    await this.broker.settleRequest((w, rid) => w.array(5).uint(Op.ack).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes))
  }

  async nack(error?: unknown, opts: { retry?: boolean } = {}): Promise<void> {
    const bytes = encodeValue(errorInfo(error))
    await this.broker.settleRequest((w, rid) => {
      w.array(6).uint(Op.nack).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes)
      if (opts.retry === undefined) w.nil()
      else w.value({ retry: opts.retry })
    })
  }

  async extend(ms: number): Promise<void> {
    const m = (await this.broker.settleRequest((w, rid) =>
      w.array(5).uint(Op.extend).uint(rid).uint(this.jobId).uint(this.attempt).uint(ms),
    )) as unknown[]
    this.leaseDeadline = m[2] as number
  }

  async progress(value: unknown): Promise<void> {
    const bytes = encodeValue(value)
    await this.broker.settleRequest((w, rid) => w.array(5).uint(Op.progress).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes))
  }
}

// ---- helpers -----------------------------------------------------------------------------------

/** A `submit` message; `resendAfter` ≥ 0 marks a re-send after a reconnect (PROTOCOL.md §5). */
function writeSubmit(
  w: FrameWriter,
  rid: number,
  queue: string,
  payload: Uint8Array,
  opts: Record<string, unknown> | null,
  resendAfter: number,
): void {
  w.array(5).uint(Op.submit).uint(rid).str(queue).bin(payload)
  const o = resendAfter >= 0 ? { ...opts, resendAfter } : opts
  if (o === null) w.nil()
  else w.value(o)
}

function submitWireOpts(o: SubmitOptions): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null
  if (o.maxAttempts !== undefined) (out ??= {}).maxAttempts = o.maxAttempts
  if (o.leaseMs !== undefined) (out ??= {}).leaseMs = o.leaseMs
  if (o.key !== undefined) (out ??= {}).key = o.key
  if (o.retentionMs !== undefined) (out ??= {}).retentionMs = o.retentionMs
  return out
}

function parseId(id: string | number): number {
  const n = typeof id === 'number' ? id : Number(id)
  if (!Number.isSafeInteger(n) || n < 1) throw new BrokerError('bad_request', `not a job id: ${String(id)}`)
  return n
}

/** Turns a thrown value into the error map stored with the job. */
export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const info: ErrorInfo = { message: err.message, name: err.name }
    if (err.stack !== undefined) info.stack = err.stack
    return info
  }
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return err as ErrorInfo
  return { message: err === undefined ? 'nacked' : String(err) }
}

function toEvent(m: unknown[]): WatchEvent {
  const type = m[2] as EventType
  const ev: WatchEvent = { type, state: m[3] as JobState, id: String(m[1]), attempt: m[4] as number, at: m[6] as number }
  const data = m[5]
  if (data instanceof Uint8Array) {
    const value = decodeValue(data)
    if (type === 'completed') ev.result = value
    else if (type === 'progress') ev.progress = value
    else ev.error = value as ErrorInfo
  }
  return ev
}

function toSnapshot(raw: Record<string, unknown>): JobSnapshot {
  const snap: JobSnapshot = {
    id: String(raw.id),
    queue: raw.queue as string,
    state: raw.state as JobState,
    attempt: raw.attempt as number,
    maxAttempts: raw.maxAttempts as number,
    createdAt: raw.createdAt as number,
  }
  if (typeof raw.finishedAt === 'number') snap.finishedAt = raw.finishedAt
  if (typeof raw.leaseDeadline === 'number') snap.leaseDeadline = raw.leaseDeadline
  if (raw.result instanceof Uint8Array) snap.result = decodeValue(raw.result)
  if (raw.error instanceof Uint8Array) snap.error = decodeValue(raw.error) as ErrorInfo
  if (raw.progress instanceof Uint8Array) snap.progress = decodeValue(raw.progress)
  return snap
}

function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  if (signal.aborted) return Promise.reject(new BrokerError('aborted', 'aborted'))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BrokerError('aborted', 'aborted (the request may still be applied by the broker)'))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
