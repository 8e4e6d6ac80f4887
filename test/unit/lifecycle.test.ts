import { describe, expect, it } from 'vitest'
import { NEW, State, TRANSITIONS, failureOutcome, isTerminal, transition, type LifecycleEvent } from '../../src/lifecycle.js'

const EVENTS: LifecycleEvent[] = ['submit', 'deliver', 'ack', 'retry', 'fail', 'progress', 'extend', 'restart']

describe('job state machine', () => {
  it('a new job can only be submitted, and becomes queued', () => {
    expect(transition(NEW, 'submit')).toMatchObject({ next: State.queued, persist: true, event: 'queued' })
    for (const e of EVENTS.filter((e) => e !== 'submit')) expect(transition(NEW, e)).toBeUndefined()
  })

  it('a queued job can only be delivered (memory only) or survive a restart', () => {
    expect(transition(State.queued, 'deliver')).toMatchObject({ next: State.active, persist: false, event: 'active' })
    expect(transition(State.queued, 'restart')?.next).toBe(State.queued)
    for (const e of ['ack', 'retry', 'fail', 'progress', 'extend', 'submit'] as const) expect(transition(State.queued, e)).toBeUndefined()
  })

  it('an active job is settled by ack, retry or fail, and each is persisted', () => {
    expect(transition(State.active, 'ack')).toMatchObject({ next: State.completed, persist: true, event: 'completed', terminal: true })
    expect(transition(State.active, 'retry')).toMatchObject({ next: State.queued, persist: true, event: 'retrying', terminal: false })
    expect(transition(State.active, 'fail')).toMatchObject({ next: State.failed, persist: true, event: 'failed', terminal: true })
    expect(transition(State.active, 'progress')).toMatchObject({ next: State.active, persist: false, event: 'progress' })
    expect(transition(State.active, 'extend')).toMatchObject({ next: State.active, persist: false, event: null })
  })

  it('an active job is queued again by a broker restart without counting the attempt', () => {
    expect(transition(State.active, 'restart')).toMatchObject({ next: State.queued, persist: false })
  })

  it('terminal states accept nothing but a restart, which keeps them', () => {
    for (const s of [State.completed, State.failed]) {
      expect(isTerminal(s)).toBe(true)
      for (const e of EVENTS) {
        if (e === 'restart') expect(transition(s, e)?.next).toBe(s)
        else expect(transition(s, e), `${s} x ${e}`).toBeUndefined()
      }
    }
  })

  it('every transition in the table persists exactly when it changes stored state', () => {
    for (const [from, row] of TRANSITIONS) {
      for (const [event, t] of Object.entries(row)) {
        const storedChange = event === 'submit' || event === 'ack' || event === 'retry' || event === 'fail'
        expect(t!.persist, `${from} x ${event}`).toBe(storedChange)
      }
    }
  })
})

describe('failureOutcome', () => {
  it('retries while attempts are left, then fails', () => {
    expect(failureOutcome(1, 3, true)).toBe('retry')
    expect(failureOutcome(2, 3, true)).toBe('retry')
    expect(failureOutcome(3, 3, true)).toBe('fail')
    expect(failureOutcome(1, 1, true)).toBe('fail')
  })
  it('fails at once when the worker says the job must not be retried', () => {
    expect(failureOutcome(1, 3, false)).toBe('fail')
  })
})
