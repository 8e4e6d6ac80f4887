// Job watchers: who watches which job, and the events waiting for the turn's commit. Events are
// published (uWS native pub/sub, topic per job) only after the commit; new watches get their
// snapshot after this turn's events went out, then join the topic, so none falls between the
// two and none is sent twice. A terminal event ends every watch of the job. Widely watched jobs
// hold non-terminal events a few ms so that a quick job costs one fan-out, not one per event.

import { FrameWriter } from '../protocol/codec.js'
import { Op } from '../protocol/ops.js'
import type { EventType } from './lifecycle.js'

/** The transport side of pub/sub (uWS in production). */
export interface Publisher {
  publish(topic: string, frame: Uint8Array): void
}

/** What the hub needs from a session. */
export interface Watcher {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  readonly closed: boolean
  /** The jobs this watcher is subscribed to; kept by the hub. */
  readonly watching: Set<number>
}

export const jobTopic = (id: number): string => 'j/' + id

/** How long sockets stay on the topic of an ended job (uWS must have drained its last event). */
export const ENDED_GRACE_MS = 5_000

/** Jobs with at least this many watchers batch their non-terminal events for up to HOLD_MS. */
export const HOLD_MIN_WATCHERS = 32
export const HOLD_MS = 5

interface HeldEvents {
  topic: string
  frames: Uint8Array[]
}

function concat(frames: Uint8Array[]): Uint8Array {
  let n = 0
  for (const f of frames) n += f.length
  const out = new Uint8Array(n)
  let at = 0
  for (const f of frames) {
    out.set(f, at)
    at += f.length
  }
  return out
}

interface PendingWatch<W> {
  watcher: W
  rid: number
  jobId: number
}

export class WatchHub<W extends Watcher = Watcher> {
  private readonly watchers = new Map<number, Set<W>>()
  private readonly events: Array<{ topic: string; frame: Uint8Array; jobId: number; terminal: boolean }> = []
  private readonly newWatches: Array<PendingWatch<W>> = []
  private readonly writer = new FrameWriter(256)
  private readonly ended: Array<{ topic: string; jobId: number; watchers: Set<W>; at: number }> = []
  /** Non-terminal events of widely watched jobs, waiting up to HOLD_MS to share one fan-out. */
  private readonly held = new Map<number, HeldEvents>()
  private holdTimer: ReturnType<typeof setTimeout> | null = null

  constructor(private readonly publisher: Publisher) {}

  /** True when someone watches the job (the hot path checks this before encoding anything). */
  isWatched(jobId: number): boolean {
    return this.watchers.size !== 0 && this.watchers.has(jobId)
  }

  /**
   * Queues an event for publication after the commit. `data` is copied now; `runAt` > 0 is
   * sent as the event's last field; `at` is the time of the transition; `terminal` ends the
   * job's watches.
   */
  emit(
    jobId: number,
    type: EventType,
    state: string,
    attempt: number,
    data: Uint8Array | null,
    terminal: boolean,
    runAt: number,
    at: number,
  ): void {
    if (!this.isWatched(jobId)) return
    const w = this.writer
    w.array(runAt > 0 ? 8 : 7)
      .uint(Op.event)
      .uint(jobId)
      .str(type)
      .str(state)
      .uint(attempt)
      .binOrNil(data)
      .uint(at)
    if (runAt > 0) w.uint(runAt)
    this.events.push({ topic: jobTopic(jobId), frame: w.copy(), jobId, terminal })
  }

  /** A watch request; answered at the end of the turn by `flush`. */
  requestWatch(watcher: W, rid: number, jobId: number): void {
    this.newWatches.push({ watcher, rid, jobId })
  }

  get pending(): boolean {
    return this.events.length !== 0 || this.newWatches.length !== 0
  }

  /**
   * After the commit: publish events, then answer new watches. `answer` writes the snapshot (or
   * not_found) to the watcher and says whether the job can still change (then it subscribes).
   */
  flush(answer: (watcher: W, rid: number, jobId: number) => boolean): void {
    for (let i = 0; i < this.events.length; i++) {
      const ev = this.events[i]
      const held = this.held.get(ev.jobId)
      if (!ev.terminal && (held !== undefined || (this.watchers.get(ev.jobId)?.size ?? 0) >= HOLD_MIN_WATCHERS)) {
        this.hold(ev.jobId, ev.topic, ev.frame, held)
        continue
      }
      this.publish(ev.jobId, ev.topic, ev.frame, held)
      if (ev.terminal) this.endJob(ev.jobId, ev.topic)
    }
    this.events.length = 0
    for (let i = 0; i < this.newWatches.length; i++) {
      const { watcher, rid, jobId } = this.newWatches[i]
      if (watcher.closed) continue
      // Held events go out first: the snapshot includes them, the new watcher must not get them.
      const held = this.held.get(jobId)
      if (held !== undefined) this.publish(jobId, held.topic, null, held)
      // A watcher that ended on its snapshot (an HTTP long poll that answered) is not subscribed.
      if (answer(watcher, rid, jobId) && !watcher.closed) this.add(watcher, jobId)
    }
    this.newWatches.length = 0
  }

  /** Publishes the job's held events (if any) and `frame` as one message per subscriber. */
  private publish(jobId: number, topic: string, frame: Uint8Array | null, held: HeldEvents | undefined): void {
    if (held === undefined) {
      if (frame !== null) this.publisher.publish(topic, frame)
      return
    }
    this.held.delete(jobId)
    if (frame !== null) held.frames.push(frame)
    this.publisher.publish(topic, held.frames.length === 1 ? held.frames[0] : concat(held.frames))
  }

  /**
   * Holds a non-terminal event of a widely watched job for up to HOLD_MS: a job that finishes
   * within it costs one fan-out (one write per subscriber) instead of one per event.
   */
  private hold(jobId: number, topic: string, frame: Uint8Array, held: HeldEvents | undefined): void {
    if (held === undefined) this.held.set(jobId, { topic, frames: [frame] })
    else held.frames.push(frame)
    this.holdTimer ??= setTimeout(this.releaseHeld, HOLD_MS)
  }

  private readonly releaseHeld = (): void => {
    this.holdTimer = null
    for (const [jobId, held] of this.held) this.publish(jobId, held.topic, null, held)
  }

  private add(watcher: W, jobId: number): void {
    let set = this.watchers.get(jobId)
    if (set === undefined) {
      set = new Set()
      this.watchers.set(jobId, set)
    }
    if (!set.has(watcher)) {
      set.add(watcher)
      watcher.watching.add(jobId)
      watcher.subscribe(jobTopic(jobId))
    }
  }

  /**
   * The job reached a terminal state: its watches are over. uWS delivers published messages in a
   * later drain, and unsubscribing before it drops them; its timing is not ours to know, so the
   * sockets leave the topic in `sweepEnded`, seconds later (see ENDED_GRACE_MS).
   */
  private endJob(jobId: number, topic: string): void {
    const set = this.watchers.get(jobId)
    if (set === undefined) return
    this.watchers.delete(jobId)
    for (const watcher of set) watcher.watching.delete(jobId)
    this.ended.push({ topic, jobId, watchers: set, at: Date.now() })
  }

  /** Unsubscribes sockets from topics of jobs that ended more than ENDED_GRACE_MS ago. */
  sweepEnded(now: number): void {
    let n = 0
    while (n < this.ended.length && this.ended[n].at <= now - ENDED_GRACE_MS) {
      const { topic, jobId, watchers } = this.ended[n++]
      for (const watcher of watchers) if (!watcher.closed && !watcher.watching.has(jobId)) watcher.unsubscribe(topic)
    }
    if (n > 0) this.ended.splice(0, n)
  }

  unwatch(watcher: W, jobId: number): void {
    const set = this.watchers.get(jobId)
    if (set === undefined || !set.delete(watcher)) return
    watcher.watching.delete(jobId)
    if (!watcher.closed) watcher.unsubscribe(jobTopic(jobId))
    if (set.size === 0) this.watchers.delete(jobId)
  }

  /** A connection closed: forget its watches (uWS already dropped its subscriptions). */
  dropWatcher(watcher: W): void {
    for (const jobId of watcher.watching) {
      const set = this.watchers.get(jobId)
      if (set === undefined) continue
      set.delete(watcher)
      if (set.size === 0) this.watchers.delete(jobId)
    }
    watcher.watching.clear()
  }
}
