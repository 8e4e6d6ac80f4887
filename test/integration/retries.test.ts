// Retries (PROTOCOL.md §3 nack, §6): a handler that throws nacks the delivery; the job is retried
// until maxAttempts deliveries failed, then ends `failed` with the last error and is kept.

import { describe, expect, it } from 'vitest'
import { BrokerError, JobFailedError, UnrecoverableError } from '../../clients/index.js'
import type { WatchEvent } from '../../clients/types.js'
import { collect, connectClient, startBroker, waitFor } from '../helpers/broker.js'

const brief = (evs: WatchEvent[]) => evs.map((e) => `${e.type}:${e.state}:${e.attempt}`)

describe('retries', () => {
  it('a handler that always throws is tried maxAttempts (default 3) times, then the job is failed with the last error and kept', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('rt-default', { n: 1 })
    const watching = collect(producer.watch(id), { timeoutMs: 15_000 })

    const attempts: number[] = []
    const workerConn = await connectClient(b.url)
    workerConn.consume('rt-default', (job) => {
      attempts.push(job.attempt)
      throw new Error(`boom ${job.attempt}`)
    })

    const { items, ended } = await watching
    expect(ended).toBe(true)
    expect(attempts).toEqual([1, 2, 3])
    expect(brief(items)).toEqual([
      'snapshot:queued:0',
      'active:active:1',
      'retrying:queued:1',
      'active:active:2',
      'retrying:queued:2',
      'active:active:3',
      'failed:failed:3',
    ])
    expect(items[2].error?.message).toBe('boom 1')
    expect(items[4].error?.message).toBe('boom 2')
    expect(items[6].error?.message).toBe('boom 3')

    const snap = await producer.get(id)
    expect(snap.state).toBe('failed')
    expect(snap.attempt).toBe(3)
    expect(snap.maxAttempts).toBe(3)
    expect(snap.error?.message).toBe('boom 3')
    expect(snap.finishedAt).toBeTypeOf('number')

    const err = await producer.result(id, { timeoutMs: 5_000 }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(JobFailedError)
    expect((err as JobFailedError).error?.message).toBe('boom 3')
    await new Promise((r) => setTimeout(r, 300))
    expect(attempts).toEqual([1, 2, 3]) // no 4th delivery
  })

  it('maxAttempts: 5 gives five deliveries before failed', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('rt-five', null, { maxAttempts: 5 })
    const attempts: number[] = []
    c.consume('rt-five', (job) => {
      attempts.push(job.attempt)
      throw new Error('nope')
    })
    const err = await c.result(id, { timeoutMs: 15_000 }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(JobFailedError)
    expect(attempts).toEqual([1, 2, 3, 4, 5])
    expect((await c.get(id)).attempt).toBe(5)
  })

  it('a job that fails once and then succeeds completes with the result of attempt 2', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('rt-flaky', 'p')
    const attempts: number[] = []
    c.consume('rt-flaky', (job) => {
      attempts.push(job.attempt)
      if (job.attempt === 1) throw new Error('transient')
      return { ok: job.attempt }
    })
    expect(await c.result(id, { timeoutMs: 10_000 })).toEqual({ ok: 2 })
    expect(attempts).toEqual([1, 2])
    const snap = await c.get(id)
    expect(snap.state).toBe('completed')
    expect(snap.attempt).toBe(2)
  })

  it('nack with retry: false fails the job at once even with attempts left', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('rt-noretry', null, { maxAttempts: 10 })
    const job = await c.pop('rt-noretry', { timeoutMs: 2_000 })
    await job!.nack(new Error('permanent'), { retry: false })
    const snap = await c.get(id)
    expect(snap.state).toBe('failed')
    expect(snap.attempt).toBe(1)
    expect(snap.error?.message).toBe('permanent')
    expect(await c.pop('rt-noretry', { timeoutMs: 200 })).toBeNull()
  })

  it('a nacked job is redelivered with attempt + 1 (pop/nack)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('rt-pop', null)
    const first = await c.pop('rt-pop', { timeoutMs: 2_000 })
    await first!.nack(new Error('again'))
    expect((await c.get(id)).state).toBe('queued')
    const second = await c.pop('rt-pop', { timeoutMs: 5_000 })
    expect(second?.id).toBe(id)
    expect(second?.attempt).toBe(2)
    // settling the old delivery again is refused
    const err = await first!.ack('stale').then(
      () => null,
      (e: unknown) => e,
    )
    expect((err as BrokerError).code).toBe('lease_expired')
    await second!.ack('fine')
    expect(await c.result(id, { timeoutMs: 2_000 })).toBe('fine')
  })

  it('failed jobs are counted in stats', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { ids } = await c.submitMany('rt-stats', [1, 2], { maxAttempts: 1 })
    c.consume(
      'rt-stats',
      () => {
        throw new Error('x')
      },
      { concurrency: 2 },
    )
    await waitFor(async () => (await c.stats('rt-stats')).queues['rt-stats']?.failed === 2, 10_000, '2 failed in stats', 50)
    for (const id of ids) expect((await c.get(id)).state).toBe('failed')
  })
})

describe('failing a job without retry', () => {
  it('a handler that throws UnrecoverableError fails the job at once, attempts left or not', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    let calls = 0
    c.consume('nr-q', () => {
      calls++
      throw new UnrecoverableError('the address does not exist')
    })
    const err = await c.run('nr-q', 1, { maxAttempts: 5, timeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JobFailedError)
    expect((err as JobFailedError).error?.message).toBe('the address does not exist')
    expect(calls).toBe(1)
  })

  it('any thrown error with retry = false does the same', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    c.consume('nr-q2', () => {
      throw Object.assign(new Error('bad input'), { retry: false })
    })
    const { id } = await c.submit('nr-q2', 1, { maxAttempts: 3 })
    await expect(c.result(id, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(JobFailedError)
    expect((await c.get(id)).attempt).toBe(1)
  })
})

describe('submitMany keys', () => {
  it('takes one idempotency key per job and refuses a single shared key', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const first = await c.submitMany('km-q', ['a', 'b'], { keys: ['k-a', 'k-b'] })
    expect(first.duplicates).toEqual([false, false])
    const again = await c.submitMany('km-q', ['a', 'b', 'c'], { keys: ['k-a', 'k-b', 'k-c'] })
    expect(again.ids.slice(0, 2)).toEqual(first.ids)
    expect(again.duplicates).toEqual([true, true, false])
    await expect(c.submitMany('km-q', ['x'], { key: 'shared' } as never)).rejects.toMatchObject({ code: 'bad_request' })
    await expect(c.submitMany('km-q', ['x', 'y'], { keys: ['only-one'] })).rejects.toMatchObject({ code: 'bad_request' })
  })
})
