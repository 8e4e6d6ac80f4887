// Everything of the job lifecycle survives kill -9 (PROTOCOL.md §6 "What is persisted"): delayed
// jobs, retries waiting for their backoff, dead letters, cancelled jobs, a paused queue, queue
// settings and limits, priorities and idempotency keys are all there after a restart and behave.

import { describe, expect, it } from 'vitest'
import { connectClient, sleep, startBroker } from '../helpers/broker.js'

describe('the job lifecycle across kill -9', () => {
  it('delayed jobs, backoff-waiting retries, dead letters, cancelled jobs, a paused queue, settings, priorities and keys are all kept', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const t0 = Date.now()

    // delayed: due 2.5 s from now, so still delayed after the restart
    const delayed = await c.submit('rs-delayed', 'd', { runAt: t0 + 2_500 })
    // a retry waiting for its backoff
    const retrying = await c.submit('rs-backoff', 'b', { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 2_500 } })
    const popped = await c.pop('rs-backoff', { timeoutMs: 2_000 })
    await popped!.nack(new Error('first try'))
    // a dead letter
    const dead = await c.submit('rs-dead', 'x', { maxAttempts: 1 })
    await (await c.pop('rs-dead', { timeoutMs: 2_000 }))!.nack(new Error('gave up'))
    // a cancelled job
    const cancelled = await c.submit('rs-cancel', 'c')
    await c.cancel(cancelled.id)
    // a paused queue with a job in it
    await c.pause('rs-paused')
    const held = await c.submit('rs-paused', 'p')
    // a queue with settings and a length limit
    await c.configureQueue('rs-settings', { maxLength: 3, maxAttempts: 9, backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 400 } })
    const keyed = await c.submit('rs-settings', 'k', { key: 'order-1' })
    // priorities: the backlog's order must come back
    for (const [p, priority] of [
      ['low', -1],
      ['high', 9],
      ['mid', 0],
    ] as const)
      await c.submit('rs-prio', p, { priority })

    expect((await c.get(delayed.id)).state).toBe('delayed')
    expect((await c.get(retrying.id)).state).toBe('delayed')
    await c.close()
    await b.kill9()

    const b2 = await b.restart()
    const r = await connectClient(b2.url)
    // delayed and backoff-waiting jobs are still delayed, with their due time and attempts
    const d = await r.get(delayed.id)
    expect(d).toMatchObject({ state: 'delayed', runAt: t0 + 2_500 })
    const w = await r.get(retrying.id)
    expect(w).toMatchObject({ state: 'delayed', attempt: 1 })
    expect(w.error?.message).toBe('first try')
    // dead letter listed, cancelled still cancelled
    const dl = await r.listJobs('rs-dead', { state: 'failed' })
    expect(dl.jobs.map((j) => j.id)).toEqual([dead.id])
    expect(dl.jobs[0].error?.message).toBe('gave up')
    expect((await r.get(cancelled.id)).state).toBe('cancelled')
    expect((await r.stats('rs-cancel')).queues['rs-cancel'].cancelled).toBe(1)
    // paused queue still paused
    expect(await r.getQueue('rs-paused')).toMatchObject({ paused: true, queued: 1 })
    // settings and limit kept; the key still de-duplicates
    const s = await r.getQueue('rs-settings')
    expect(s.settings).toEqual({ maxLength: 3, maxAttempts: 9, backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 400 } })
    expect(await r.submit('rs-settings', 'k again', { key: 'order-1' })).toEqual({ id: keyed.id, duplicate: true })
    const fresh = await r.submit('rs-settings', 'new')
    expect((await r.get(fresh.id)).maxAttempts).toBe(9)
    await r.submit('rs-settings', 'third')
    await expect(r.submit('rs-settings', 'fourth')).rejects.toMatchObject({ code: 'queue_full' })

    // and they behave: nothing runs early, then everything that should run does
    const ran: Array<[string, string, number]> = []
    for (const q of ['rs-delayed', 'rs-backoff', 'rs-paused', 'rs-prio']) {
      r.consume(q, (job) => {
        ran.push([q, job.payload as string, Date.now()])
        return 'ok'
      })
    }
    await sleep(300)
    expect(ran.filter(([q]) => q !== 'rs-prio')).toEqual([])
    expect(ran.map(([, p]) => p)).toEqual(['high', 'mid', 'low'])
    await r.result(delayed.id, { timeoutMs: 10_000 })
    expect(ran.find(([q]) => q === 'rs-delayed')![2]).toBeGreaterThanOrEqual(t0 + 2_500)
    await r.result(retrying.id, { timeoutMs: 10_000 })
    expect((await r.get(retrying.id)).attempt).toBe(2)
    expect(ran.some(([q]) => q === 'rs-paused')).toBe(false)
    await r.resume('rs-paused')
    await r.result(held.id, { timeoutMs: 5_000 })
    // the dead letter can be sent back after the restart
    await r.retry(dead.id)
    r.consume('rs-dead', () => 'second life')
    expect(await r.result(dead.id, { timeoutMs: 5_000 })).toBe('second life')
  })
})
