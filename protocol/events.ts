// A job's snapshot and events as clients see them (PROTOCOL.md §3 watch, §6), shared by the
// TypeScript SDK and the daemon's HTTP API: they differ only in how a stored value (MessagePack
// bytes) is decoded — to a JavaScript value, or to JSON.

import { FINISHED_STATES, type EventType, type JobState } from './ops.js'

/** Turns a stored value's MessagePack bytes into what the client shows. */
export type ValueDecoder = (bytes: Uint8Array) => unknown

export interface SnapshotView {
  id: string
  queue: string
  state: JobState
  attempt: number
  maxAttempts: number
  priority: number
  createdAt: number
  /** While `delayed`: when it becomes queued. */
  runAt?: number
  finishedAt?: number
  leaseDeadline?: number
  result?: unknown
  error?: unknown
  progress?: unknown
}

export interface EventView {
  type: EventType | 'snapshot'
  state: JobState
  id: string
  attempt: number
  /** ms since epoch of the transition (for `snapshot`: of the last known change). */
  at: number
  /** `delayed` state, `retrying` event: when the job is (next) queued. */
  runAt?: number
  result?: unknown
  error?: unknown
  progress?: unknown
}

/** `completed`, `failed` or `cancelled`. */
export function isFinishedState(state: string): boolean {
  return (FINISHED_STATES as readonly string[]).includes(state)
}

/** A watch ends after an event in a terminal state, or `removed`. */
export function endsWatch(state: string, type: string): boolean {
  return type === 'removed' || isFinishedState(state)
}

/** A `snapshot` map as the broker sends it, with its values decoded. */
export function snapshotView(raw: Record<string, unknown>, decode: ValueDecoder): SnapshotView {
  const snap: SnapshotView = {
    id: String(raw.id),
    queue: raw.queue as string,
    state: raw.state as JobState,
    attempt: raw.attempt as number,
    maxAttempts: raw.maxAttempts as number,
    priority: typeof raw.priority === 'number' ? raw.priority : 0,
    createdAt: raw.createdAt as number,
  }
  if (typeof raw.runAt === 'number') snap.runAt = raw.runAt
  if (typeof raw.finishedAt === 'number') snap.finishedAt = raw.finishedAt
  if (typeof raw.leaseDeadline === 'number') snap.leaseDeadline = raw.leaseDeadline
  if (raw.result instanceof Uint8Array) snap.result = decode(raw.result)
  if (raw.error instanceof Uint8Array) snap.error = decode(raw.error)
  if (raw.progress instanceof Uint8Array) snap.progress = decode(raw.progress)
  return snap
}

/** The first event of a watch: the snapshot, as an event of type `snapshot`. */
export function snapshotEvent(snap: SnapshotView): EventView {
  const ev: EventView = { type: 'snapshot', state: snap.state, id: snap.id, attempt: snap.attempt, at: snap.finishedAt ?? snap.createdAt }
  if (snap.runAt !== undefined) ev.runAt = snap.runAt
  if (snap.result !== undefined) ev.result = snap.result
  if (snap.error !== undefined) ev.error = snap.error
  if (snap.progress !== undefined) ev.progress = snap.progress
  return ev
}

/** An `event` message [71, job, type, state, attempt, data?, at, runAt?], its data decoded. */
export function eventView(m: unknown[], decode: ValueDecoder): EventView {
  const type = m[2] as EventType
  const ev: EventView = { type, state: m[3] as JobState, id: String(m[1]), attempt: m[4] as number, at: m[6] as number }
  if (typeof m[7] === 'number') ev.runAt = m[7]
  const data = m[5]
  if (data instanceof Uint8Array) {
    const value = decode(data)
    if (type === 'completed') ev.result = value
    else if (type === 'progress') ev.progress = value
    else ev.error = value
  }
  return ev
}
