// The SDK's connection: requests and replies, one frame per microtask turn, and reconnection.
// After a reconnect it re-registers consumers, resumes watches (a fresh snapshot) and re-sends
// unconfirmed submits marked `resendAfter`, so the broker returns the job it may already have.
// The public API (client.ts) is built on `request`; workers and watch streams register here.

import { FrameWriter, decodeFrame } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { Op, PROTOCOL_VERSION, WS_PATH } from '../protocol/ops.js'
import { openTransport, type Transport } from './transport.js'
import { toEvent } from './wire.js'
import { WatchStream, type WatchSink } from './watch-stream.js'
import type { WorkerImpl } from './worker.js'
import type { ConnectOptions } from './types.js'

/**
 * What happens to a pending request when the connection drops: `submit` is re-sent marked
 * `resendAfter` (the broker de-duplicates it); `idempotent` (get, stats, pop, ping, cancel, queue
 * reads and settings) is re-sent as is; `once` (retry, remove, redrive, purge) and `settle`
 * (ack/nack/extend/progress of a popped job) fail with connection_lost, since they may or may not
 * have been applied; `internal` and `watch` are dropped: workers and watch streams re-register
 * themselves.
 */
export type Kind = 'submit' | 'idempotent' | 'once' | 'settle' | 'internal' | 'watch'

export interface Pending {
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

export class Connection {
  private readonly url: string
  private transport: Transport | null = null
  private readonly out = new FrameWriter(4096)
  private flushQueued = false
  private nextRid = 1
  protected nextConsumerId = 1
  protected readonly pending = new Map<number, Pending>()
  protected readonly workers = new Map<number, WorkerImpl>()
  private readonly watches = new Map<number, Set<WatchStream>>()
  private client = 0
  /** Highest job id when this connection started: re-sent submits look for ids above it. */
  protected connLastJob = 0
  /** Connection generation: bumps on every (re)connect; deliveries of older ones are lost. */
  gen = 0
  protected ready = false
  protected closed = false
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  limits: Limits = { maxPayload: 1024 * 1024, maxFrame: 16 * 1024 * 1024, leaseMs: 30_000, maxCredit: 100_000 }

  constructor(
    url: string,
    protected readonly opts: ConnectOptions,
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
      if (p.kind === 'settle' || p.kind === 'once') {
        this.pending.delete(rid)
        p.reject(
          new BrokerError(
            'connection_lost',
            'the connection closed before the broker answered; the request may or may not have been applied',
          ),
        )
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
  protected send(p: Pending): number {
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
   * Sends a watch whose reply must be handled synchronously, in frame order: its snapshot must be
   * seen before the events that follow it in the same network read.
   */
  requestWatch(encode: Pending['encode'], onReply: (m: unknown[]) => void, onError: (err: BrokerError) => void): void {
    this.send({ kind: 'watch', encode, resolve: onReply as (v: unknown) => void, reject: onError, gen: 0 })
  }

  /** Reserves `n` consecutive request ids (submit_many uses rid … rid+n-1 as its sequence). */
  protected reserveRids(n: number): void {
    this.nextRid += n - 1
  }

  /** @internal settle a popped job, awaiting the broker's confirmation */
  settleRequest(encode: Pending['encode']): Promise<unknown> {
    return this.request('settle', encode)
  }

  /** @internal requests whose loss on reconnect is repaired by the caller (consume, credit, stop) */
  internalRequest(encode: Pending['encode']): Promise<unknown> {
    return this.request('internal', encode)
  }

  /** @internal */
  dropWorker(worker: WorkerImpl): void {
    this.workers.delete(worker.id)
  }

  // ---- watch streams -------------------------------------------------------------------------

  /** Registers a watch stream feeding `sink` (its snapshot is requested by the caller). */
  protected openStream(jobId: number, sink: WatchSink, signal?: AbortSignal): WatchStream {
    const stream = new WatchStream(this, jobId, sink)
    let set = this.watches.get(jobId)
    if (set === undefined) this.watches.set(jobId, (set = new Set()))
    set.add(stream)
    sink.onFinish = () => this.unwatch(stream)
    if (signal !== undefined) {
      if (signal.aborted) stream.fail(new BrokerError('aborted', 'the watch was aborted'))
      else signal.addEventListener('abort', () => stream.fail(new BrokerError('aborted', 'the watch was aborted')), { once: true })
    }
    return stream
  }

  private unwatch(stream: WatchStream): void {
    const set = this.watches.get(stream.jobId)
    if (set === undefined || !set.delete(stream)) return
    if (set.size > 0) return
    this.watches.delete(stream.jobId)
    if (!stream.reachedEnd) this.requestUnwatch(stream.jobId)
  }

  /** Tells the broker to stop sending this job's events (best effort: a lost one ends by itself). */
  protected requestUnwatch(jobId: number): void {
    if (this.ready && !this.closed) this.request('internal', (w, rid) => w.array(3).uint(Op.unwatch).uint(rid).uint(jobId)).catch(() => {})
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
        case Op.revoke:
          // consumer 0: a popped job; its settlement will be answered lease_expired
          if (m[1] !== 0) this.workers.get(m[1] as number)?.onRevoke(m[2] as number, m[3] as number)
          break
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
}
