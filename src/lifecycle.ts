// The job state machine as one table (mirrors protocol/PROTOCOL.md §6): states × events → next
// state, whether the store must write it, and the watch event it publishes. Every transition in
// QueueActor goes through `transition()`; an event a state does not accept is a broker bug.

/** Numeric state codes, as stored in the `jobs.state` column (active is never stored). */
export const State = { queued: 0, active: 1, completed: 2, failed: 3 } as const
export type StateCode = (typeof State)[keyof typeof State]

export type LifecycleEvent =
  | 'submit'
  | 'deliver'
  | 'ack'
  | 'retry' // nack / lease expiry / consumer lost, with attempts left
  | 'fail' // the same with no attempts left, or nack with retry:false
  | 'progress'
  | 'extend'
  | 'restart'

export type EventType = 'queued' | 'active' | 'progress' | 'retrying' | 'completed' | 'failed'

export interface Transition {
  next: StateCode
  /** The store writes this transition in the turn's transaction. */
  persist: boolean
  /** The watch event published after the commit, if any. */
  event: EventType | null
  terminal: boolean
}

const t = (next: StateCode, persist: boolean, event: EventType | null): Transition => ({
  next,
  persist,
  event,
  terminal: next === State.completed || next === State.failed,
})

/** `NEW` stands for "no job yet": the only event it accepts is submit. */
export const NEW = -1
type From = StateCode | typeof NEW

export const TRANSITIONS: ReadonlyMap<From, Partial<Record<LifecycleEvent, Transition>>> = new Map<
  From,
  Partial<Record<LifecycleEvent, Transition>>
>([
  [NEW, { submit: t(State.queued, true, 'queued') }],
  [State.queued, { deliver: t(State.active, false, 'active'), restart: t(State.queued, false, null) }],
  [
    State.active,
    {
      ack: t(State.completed, true, 'completed'),
      retry: t(State.queued, true, 'retrying'),
      fail: t(State.failed, true, 'failed'),
      progress: t(State.active, false, 'progress'),
      extend: t(State.active, false, null),
      // After a crash an active job is ready again; the interrupted delivery is not counted.
      restart: t(State.queued, false, null),
    },
  ],
  [State.completed, { restart: t(State.completed, false, null) }],
  [State.failed, { restart: t(State.failed, false, null) }],
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
 * failed delivery itself.
 */
export function failureOutcome(attemptsUsed: number, maxAttempts: number, retry: boolean): 'retry' | 'fail' {
  return retry && attemptsUsed < maxAttempts ? 'retry' : 'fail'
}

export function isTerminal(state: StateCode): boolean {
  return state === State.completed || state === State.failed
}
