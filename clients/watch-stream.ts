// One watch of a job: asks the broker for the job's snapshot, then passes on its events to a sink
// (watch()'s async iterator, or result()/run()'s Outcome), and ends after the event that ends the
// job (completed, failed, cancelled, removed). Events that arrive before the snapshot are already
// reflected in it and are dropped (PROTOCOL.md §3 watch).

import type { FrameWriter } from '../protocol/codec.js'
import type { BrokerError } from '../protocol/errors.js'
import { Op } from '../protocol/ops.js'
import { endsWatch, snapshotEvent } from '../protocol/events.js'
import { toSnapshot } from './wire.js'
import type { WatchEvent } from './types.js'

/** What a stream needs from its connection: a watch request whose reply is handled in frame order. */
export interface WatchRequester {
  requestWatch(encode: (w: FrameWriter, rid: number) => void, onReply: (m: unknown[]) => void, onError: (err: BrokerError) => void): void
}

/** Where a stream's events go: the first call of end() or fail() finishes it (and runs onFinish). */
export interface WatchSink {
  push(ev: WatchEvent): void
  end(): void
  fail(err: unknown): void
  readonly finished: boolean
  onFinish: () => void
}

export class WatchStream {
  private haveSnapshot = false
  reachedEnd = false

  constructor(
    private readonly connection: WatchRequester,
    readonly jobId: number,
    readonly sink: WatchSink,
  ) {}

  /** (Re)subscribes: the broker answers with a fresh snapshot, events follow. */
  subscribe(): void {
    this.haveSnapshot = false
    this.connection.requestWatch(
      (w, rid) => w.array(3).uint(Op.watch).uint(rid).uint(this.jobId),
      (m) => this.onSnapshot(m[2] as Record<string, unknown>),
      (err) => {
        if (err.code !== 'connection_lost') this.fail(err)
      },
    )
  }

  onSnapshot(raw: Record<string, unknown>): void {
    if (this.sink.finished) return
    this.haveSnapshot = true
    const ev = snapshotEvent(toSnapshot(raw)) as WatchEvent
    this.sink.push(ev)
    if (endsWatch(ev.state, ev.type)) this.finish()
  }

  onEvent(ev: WatchEvent): void {
    // Events before the snapshot are already reflected in it (the broker answers watches last).
    if (!this.haveSnapshot || this.sink.finished) return
    this.sink.push(ev)
    if (endsWatch(ev.state, ev.type)) this.finish()
  }

  private finish(): void {
    this.reachedEnd = true
    this.sink.end()
  }

  fail(err: unknown): void {
    this.sink.fail(err)
  }
}
