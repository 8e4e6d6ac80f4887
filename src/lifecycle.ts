// The job state machine as one table (mirrors protocol/PROTOCOL.md §6): states × events → next
// state, whether the store must write it, and the watch event it publishes. Every transition in
// QueueActor goes through `transition()`; an event a state does not accept is refused there.

/**
 * Numeric state codes. Unfinished jobs are stored without a state (queued or delayed follows from
 * their due time, active is memory only); finished ones carry theirs in `finished.state`.
 */
export const State = { queued: 0, active: 1, completed: 2, failed: 3, delayed: 4, cancelled: 5 } as const
export type StateCode = (typeof State)[keyof typeof State]

export type LifecycleEvent =
  | 'submit'
  | 'submit_delayed'
  | 'due' // a delayed job's time came
  | 'deliver'
  | 'ack'
  | 'retry' // nack / lease expiry / consumer lost, with attempts left and no wait
  | 'backoff' // the same, waiting for a backoff or retryAfterMs first
  | 'fail' // the same with no attempts left, or nack with retry:false
  | 'progress'
  | 'extend'
  | 'cancel'
  | 'requeue' // retry / redrive of a failed or cancelled job
  | 'remove'
  | 'purge' // retention ended, or purge
  | 'restart'

import type { EventType } from '../protocol/ops.js'
export type { EventType }

/** `NEW` stands for "no job yet": the only events it accepts are the submits. */
export const NEW = -1
/** `GONE`: the job was deleted (remove, purge). */
export const GONE = -2
type From = StateCode | typeof NEW
type To = StateCode | typeof GONE

export interface Transition {
  next: To
  /** The store writes this transition in the turn's transaction. */
  persist: boolean
  /** The watch event published after the commit, if any. */
  event: EventType | null
  /** The job's watches end with this transition (terminal state, or deleted). */
  endsWatch: boolean
}

const t = (next: To, persist: boolean, event: EventType | null): Transition => ({
  next,
  persist,
  event,
  endsWatch: next === GONE || isTerminal(next),
})

const cancel = t(State.cancelled, true, 'cancelled')
const remove = t(GONE, true, 'removed')
const purge = t(GONE, true, null)

export const TRANSITIONS: ReadonlyMap<From, Partial<Record<LifecycleEvent, Transition>>> = new Map<
  From,
  Partial<Record<LifecycleEvent, Transition>>
>([
  [NEW, { submit: t(State.queued, true, 'queued'), submit_delayed: t(State.delayed, true, 'delayed') }],
  [State.delayed, { due: t(State.queued, false, 'queued'), cancel, remove, restart: t(State.delayed, false, null) }],
  [State.queued, { deliver: t(State.active, false, 'active'), cancel, remove, restart: t(State.queued, false, null) }],
  [
    State.active,
    {
      ack: t(State.completed, true, 'completed'),
      retry: t(State.queued, true, 'retrying'),
      backoff: t(State.delayed, true, 'retrying'),
      fail: t(State.failed, true, 'failed'),
      progress: t(State.active, false, 'progress'),
      extend: t(State.active, false, null),
      cancel,
      // After a crash an active job is ready again; the interrupted delivery is not counted.
      restart: t(State.queued, false, null),
    },
  ],
  [State.completed, { remove, purge, restart: t(State.completed, false, null) }],
  [State.failed, { requeue: t(State.queued, true, 'queued'), remove, purge, restart: t(State.failed, false, null) }],
  [State.cancelled, { requeue: t(State.queued, true, 'queued'), remove, purge, restart: t(State.cancelled, false, null) }],
])

// Flattened for the hot path: one array index and one property read per transition.
const TABLE: Array<Partial<Record<LifecycleEvent, Transition>>> = []
for (const [from, row] of TRANSITIONS) TABLE[from + 1] = row

/** The transition for `event` in state `from`, or undefined if the state does not accept it. */
export function transition(from: From, event: LifecycleEvent): Transition | undefined {
  return TABLE[from + 1]?.[event]
}

/**
 * What a failed delivery (nack, lease expiry, consumer lost) leads to. `attemptsUsed` counts the
 * failed delivery itself; `waitMs` is the time before the next attempt (backoff or retryAfterMs).
 */
export function failureOutcome(attemptsUsed: number, maxAttempts: number, retry: boolean, waitMs = 0): 'retry' | 'backoff' | 'fail' {
  if (!retry || attemptsUsed >= maxAttempts) return 'fail'
  return waitMs > 0 ? 'backoff' : 'retry'
}

export function isTerminal(state: number): boolean {
  return state === State.completed || state === State.failed || state === State.cancelled
}
