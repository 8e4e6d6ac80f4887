import { describe, expect, it } from 'vitest'
import { GONE, NEW, State, TRANSITIONS, failureOutcome, isTerminal, transition, type LifecycleEvent } from '../../src/lifecycle.js'

const EVENTS: LifecycleEvent[] = [
  'submit',
  'submit_delayed',
  'due',
  'deliver',
  'ack',
  'retry',
  'backoff',
  'fail',
  'progress',
  'extend',
  'cancel',
  'requeue',
  'remove',
  'purge',
  'restart',
]

/** The events each state accepts, and nothing else: the table in PROTOCOL.md §6. */
const ACCEPTS: Record<number, LifecycleEvent[]> = {
  [NEW]: ['submit', 'submit_delayed'],
  [State.delayed]: ['due', 'cancel', 'remove', 'restart'],
  [State.queued]: ['deliver', 'cancel', 'remove', 'restart'],
  [State.active]: ['ack', 'retry', 'backoff', 'fail', 'progress', 'extend', 'cancel', 'restart'],
  [State.completed]: ['remove', 'purge', 'restart'],
  [State.failed]: ['requeue', 'remove', 'purge', 'restart'],
  [State.cancelled]: ['requeue', 'remove', 'purge', 'restart'],
}

/** Events that change what is stored. */
const PERSISTED: LifecycleEvent[] = ['submit', 'submit_delayed', 'ack', 'retry', 'backoff', 'fail', 'cancel', 'requeue', 'remove', 'purge']

describe('job state machine', () => {
  it('each state accepts exactly the events of the protocol table, and refuses every other', () => {
    for (const [from, accepted] of Object.entries(ACCEPTS)) {
      for (const e of EVENTS) {
        const t = transition(Number(from) as never, e)
        if (accepted.includes(e)) expect(t, `${from} x ${e}`).toBeDefined()
        else expect(t, `${from} x ${e}`).toBeUndefined()
      }
    }
    expect([...TRANSITIONS.keys()].sort()).toEqual(Object.keys(ACCEPTS).map(Number).sort())
  })

  it('a new job is queued, or delayed when it has a due time', () => {
    expect(transition(NEW, 'submit')).toMatchObject({ next: State.queued, event: 'queued' })
    expect(transition(NEW, 'submit_delayed')).toMatchObject({ next: State.delayed, event: 'delayed' })
  })

  it('a delayed job becomes queued at its time (memory only: the due time is stored) and can be cancelled or removed', () => {
    expect(transition(State.delayed, 'due')).toMatchObject({ next: State.queued, persist: false, event: 'queued' })
    expect(transition(State.delayed, 'cancel')).toMatchObject({ next: State.cancelled, event: 'cancelled', endsWatch: true })
    expect(transition(State.delayed, 'remove')).toMatchObject({ next: GONE, event: 'removed', endsWatch: true })
    expect(transition(State.delayed, 'restart')?.next).toBe(State.delayed)
  })

  it('a queued job is delivered (memory only), cancelled or removed', () => {
    expect(transition(State.queued, 'deliver')).toMatchObject({ next: State.active, persist: false, event: 'active' })
    expect(transition(State.queued, 'cancel')?.next).toBe(State.cancelled)
    expect(transition(State.queued, 'restart')?.next).toBe(State.queued)
  })

  it('an active job is settled by ack, retry, backoff or fail, each persisted; a waiting retry is delayed', () => {
    expect(transition(State.active, 'ack')).toMatchObject({ next: State.completed, persist: true, event: 'completed', endsWatch: true })
    expect(transition(State.active, 'retry')).toMatchObject({ next: State.queued, persist: true, event: 'retrying', endsWatch: false })
    expect(transition(State.active, 'backoff')).toMatchObject({ next: State.delayed, persist: true, event: 'retrying', endsWatch: false })
    expect(transition(State.active, 'fail')).toMatchObject({ next: State.failed, persist: true, event: 'failed', endsWatch: true })
    expect(transition(State.active, 'progress')).toMatchObject({ next: State.active, persist: false, event: 'progress' })
    expect(transition(State.active, 'extend')).toMatchObject({ next: State.active, persist: false, event: null })
  })

  it('an active job can be cancelled but not removed', () => {
    expect(transition(State.active, 'cancel')).toMatchObject({ next: State.cancelled, persist: true, endsWatch: true })
    expect(transition(State.active, 'remove')).toBeUndefined()
  })

  it('an active job is queued again by a broker restart without counting the attempt', () => {
    expect(transition(State.active, 'restart')).toMatchObject({ next: State.queued, persist: false })
  })

  it('failed and cancelled jobs can be sent back (requeue); a completed one cannot', () => {
    expect(transition(State.failed, 'requeue')).toMatchObject({ next: State.queued, persist: true, event: 'queued' })
    expect(transition(State.cancelled, 'requeue')).toMatchObject({ next: State.queued, persist: true })
    expect(transition(State.completed, 'requeue')).toBeUndefined()
  })

  it('terminal states keep their state over a restart and are deleted by purge without an event', () => {
    for (const s of [State.completed, State.failed, State.cancelled]) {
      expect(isTerminal(s)).toBe(true)
      expect(transition(s, 'restart')?.next).toBe(s)
      expect(transition(s, 'purge')).toMatchObject({ next: GONE, persist: true, event: null })
    }
    for (const s of [State.queued, State.delayed, State.active]) expect(isTerminal(s)).toBe(false)
  })

  it('every transition persists exactly when it changes stored state, and ends watches exactly when the job ends', () => {
    for (const [from, row] of TRANSITIONS) {
      for (const [event, t] of Object.entries(row)) {
        expect(t!.persist, `${from} x ${event}`).toBe(PERSISTED.includes(event as LifecycleEvent))
        expect(t!.endsWatch, `${from} x ${event}`).toBe(t!.next === GONE || isTerminal(t!.next))
      }
    }
  })
})

describe('failureOutcome', () => {
  it('retries while attempts are left (delayed when it must wait), then fails', () => {
    expect(failureOutcome(1, 3, true)).toBe('retry')
    expect(failureOutcome(1, 3, true, 500)).toBe('backoff')
    expect(failureOutcome(2, 3, true)).toBe('retry')
    expect(failureOutcome(3, 3, true)).toBe('fail')
    expect(failureOutcome(3, 3, true, 500)).toBe('fail')
    expect(failureOutcome(1, 1, true)).toBe('fail')
  })
  it('fails at once when the worker says the job must not be retried', () => {
    expect(failureOutcome(1, 3, false)).toBe('fail')
    expect(failureOutcome(1, 3, false, 1000)).toBe('fail')
  })
})
