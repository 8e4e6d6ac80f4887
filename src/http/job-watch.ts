// Watching a job over HTTP: a long poll (one answer when the job changes) and a Server-Sent
// Events stream (the watch() sequence as text). Both are WatchHub watchers like a WebSocket
// session: the hub answers their watch with a snapshot after the commit and subscribes them to
// the job's topic. uWS pub/sub only reaches WebSockets, so HttpTopics taps the same publications
// and hands each event message to the HTTP watchers of its topic. One sweep timer serves every
// held poll's deadline and every stream's keep-alive (protocol/HTTP.md §3, §4).

import { decodeFrame } from '../../protocol/codec.js'
import { BrokerError } from '../../protocol/errors.js'
import { endsWatch, eventView, isFinishedState, snapshotEvent, type EventView } from '../../protocol/events.js'
import type { Broker, WatchTarget } from '../broker.js'
import { jobTopic } from '../watch-hub.js'
import { jsonValue, snapshotJson } from './json.js'
import type { Reply } from './reply.js'

export const SWEEP_MS = 250
export const KEEPALIVE_MS = 15_000

/** The HTTP side of job topics: topic → its HTTP watchers. */
export class HttpTopics {
  private readonly byTopic = new Map<string, Set<HttpJobWatch>>()

  add(topic: string, w: HttpJobWatch): void {
    let set = this.byTopic.get(topic)
    if (set === undefined) this.byTopic.set(topic, (set = new Set()))
    set.add(w)
  }

  remove(topic: string, w: HttpJobWatch): void {
    const set = this.byTopic.get(topic)
    if (set === undefined) return
    set.delete(w)
    if (set.size === 0) this.byTopic.delete(topic)
  }

  /**
   * A published frame: one or more event messages of the topic's job. Costs one size check when
   * nobody watches over HTTP; each event is turned into JSON once, however many watch it. (A Set
   * may lose the watcher being visited while it is iterated: one that ends leaves at once.)
   */
  publish(topic: string, frame: Uint8Array): void {
    if (this.byTopic.size === 0) return
    const set = this.byTopic.get(topic)
    if (set === undefined) return
    for (const m of decodeFrame(frame)) {
      const ev = eventView(m as unknown[], jsonValue)
      const data = JSON.stringify(ev)
      for (const w of set) w.onEvent(ev, data)
    }
  }
}

/** What the watchers share: the broker, the topic tap, the sweep, and counters for tests and stats. */
export class HttpWatchContext {
  readonly active = new Set<HttpJobWatch>()
  /** Requests whose client went away while held (a debug stat: they must be freed at once). */
  aborted = 0
  private timer: ReturnType<typeof setInterval> | null = null

  constructor(
    readonly broker: Broker,
    readonly topics: HttpTopics,
  ) {}

  track(w: HttpJobWatch): void {
    this.active.add(w)
    this.timer ??= setInterval(this.sweep, SWEEP_MS)
  }

  untrack(w: HttpJobWatch): void {
    this.active.delete(w)
    if (this.active.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  private readonly sweep = (): void => {
    const now = Date.now()
    for (const w of this.active) w.tick(now)
  }

  /** Graceful stop: held polls answer shutting_down, streams end. */
  closeAll(): void {
    for (const w of this.active) w.shutDown()
  }
}

/** Common part of a long poll and an event stream: a hub watcher answered over one response. */
export abstract class HttpJobWatch implements WatchTarget {
  readonly watching = new Set<number>()
  private finished = false

  constructor(
    protected readonly ctx: HttpWatchContext,
    protected readonly reply: Reply,
    readonly jobId: number,
  ) {
    reply.onAbort = () => {
      ctx.aborted++
      this.finish()
    }
  }

  /** Asks the hub for the job's snapshot (after this turn's commit), then events. */
  start(): void {
    this.ctx.track(this)
    this.ctx.broker.hub.requestWatch(this, 0, this.jobId)
    this.ctx.broker.scheduleFlush()
  }

  get closed(): boolean {
    return this.finished
  }

  subscribe(topic: string): void {
    if (!this.finished) this.ctx.topics.add(topic, this)
  }

  unsubscribe(topic: string): void {
    this.ctx.topics.remove(topic, this)
  }

  /** Leaves the hub, the tap and the sweep; the response was ended (or aborted) by the caller. */
  protected finish(): void {
    if (this.finished) return
    this.finished = true
    this.ctx.topics.remove(jobTopic(this.jobId), this)
    this.ctx.broker.hub.dropWatcher(this)
    this.ctx.untrack(this)
  }

  pushError(_rid: number, err: BrokerError): void {
    this.reply.error(err)
    this.finish()
  }

  abstract pushSnapshot(rid: number, snapshot: Record<string, unknown>): void
  /** An event of the job (published after its commit), and its JSON text. */
  abstract onEvent(ev: EventView, data: string): void
  abstract tick(now: number): void
  abstract shutDown(): void
}

/** `GET /v1/jobs/:id?wait=S[&until=done][&state=X]`: one answer, when the job changes or the wait ends. */
export class LongPoll extends HttpJobWatch {
  constructor(
    ctx: HttpWatchContext,
    reply: Reply,
    jobId: number,
    private readonly untilDone: boolean,
    /** The state the client saw last (null: the state when the request arrived). */
    private baseline: string | null,
    private readonly deadline: number,
  ) {
    super(ctx, reply, jobId)
  }

  pushSnapshot(_rid: number, snap: Record<string, unknown>): void {
    const state = snap.state as string
    // A finished job cannot change while watched (a retry is a new request): answer now.
    if (isFinishedState(state) || (!this.untilDone && this.baseline !== null && state !== this.baseline)) return this.answer(snap)
    this.baseline ??= state
  }

  onEvent(ev: EventView): void {
    if (ev.type === 'removed') return this.pushError(0, new BrokerError('not_found', `job ${this.jobId} was removed`, this.jobId))
    if (this.untilDone ? isFinishedState(ev.state) : ev.state !== this.baseline) this.answerNow()
  }

  tick(now: number): void {
    if (now >= this.deadline) this.answerNow()
  }

  shutDown(): void {
    this.pushError(0, new BrokerError('shutting_down', 'the broker is stopping; poll again'))
  }

  /** The snapshot as it is now (events are published after their commit: it includes them). */
  private answerNow(): void {
    const snap = this.ctx.broker.snapshot(this.jobId)
    if (snap === undefined) return this.pushError(0, new BrokerError('not_found', `job ${this.jobId} no longer exists`, this.jobId))
    this.answer(snap)
  }

  private answer(snap: Record<string, unknown>): void {
    this.reply.json('200 OK', snapshotJson(snap))
    this.finish()
  }
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

/** `GET /v1/jobs/:id/events`: the watch() sequence as Server-Sent Events, ids `<job>.<n>`, last `<job>.end`. */
export class SseStream extends HttpJobWatch {
  private seq = 0
  private lastWrite = 0
  private open = false

  pushSnapshot(_rid: number, snap: Record<string, unknown>): void {
    const ev = snapshotEvent(snapshotJson(snap))
    const last = endsWatch(ev.state, ev.type)
    this.open = true
    this.lastWrite = Date.now()
    this.reply.open('200 OK', SSE_HEADERS, 'retry: 1000\n\n' + this.message(ev.type, JSON.stringify(ev), last))
    if (last) this.close()
  }

  onEvent(ev: EventView, data: string): void {
    const last = endsWatch(ev.state, ev.type)
    this.lastWrite = Date.now()
    this.reply.write(this.message(ev.type, data, last))
    if (last) this.close()
  }

  tick(now: number): void {
    if (this.open && now - this.lastWrite >= KEEPALIVE_MS) {
      this.lastWrite = now
      this.reply.write(': keep-alive\n\n')
    }
  }

  shutDown(): void {
    if (this.open) this.close()
    else this.pushError(0, new BrokerError('shutting_down', 'the broker is stopping; reconnect later'))
  }

  private message(type: string, data: string, last: boolean): string {
    const id = last ? `${this.jobId}.end` : `${this.jobId}.${this.seq++}`
    return `id: ${id}\nevent: ${type}\ndata: ${data}\n\n`
  }

  private close(): void {
    this.reply.end()
    this.finish()
  }
}
