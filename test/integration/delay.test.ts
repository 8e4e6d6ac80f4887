// Delayed jobs and retry backoff (PROTOCOL.md §5 delayMs / runAt / backoff, §3 nack
// retryAfterMs, §6 state delayed): a delayed job is not delivered before its time and is soon
// after it; a failed delivery waits its backoff in state `delayed`. Bounds are generous: this is
// a loaded 2-core machine, and the order of events matters more than milliseconds.

import { describe, expect, it } from 'vitest'
import { UnrecoverableError } from '../../clients/index.js'
import type { WatchEvent } from '../../clients/types.js'
import { collect, connectClient, startBroker, waitFor } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('delayed jobs', () => {
  it('delayMs: the job is delayed (snapshot state and runAt), not delivered early, and starts soon after its time', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const started: number[] = []
    c.consume('dl-q', () => {
      started.push(Date.now())
    })
    await c.ping()
    const t0 = Date.now()
    const { id } = await c.submit('dl-q', 'later', { delayMs: 600 })
    const snap = await c.get(id)
    expect(snap.state).toBe('delayed')
    expect(snap.runAt).toBeGreaterThanOrEqual(t0 + 600)
    expect(snap.runAt).toBeLessThanOrEqual(Date.now() + 600)
    expect((await c.stats('dl-q')).queues['dl-q']).toMatchObject({ delayed: 1, queued: 0 })
    expect(await c.result(id, { timeoutMs: 10_000 })).toBeNull() // a handler returning nothing: result nil
    expect(started).toHaveLength(1)
    expect(started[0]).toBeGreaterThanOrEqual(snap.runAt as number)
    expect(started[0] - (snap.runAt as number)).toBeLessThan(500) // the contract is 10 ms; a loaded CI box gets slack
  })

  it('runAt: jobs start in the order of their times, not of their submits; a runAt in the past runs now', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const now = Date.now()
    const late = await c.submit('dl-order', 'late', { runAt: now + 900 })
    const early = await c.submit('dl-order', 'early', { runAt: new Date(now + 400) })
    const past = await c.submit('dl-order', 'past', { runAt: now - 60_000 })
    expect((await c.get(past.id)).state).toBe('queued')
    const order: string[] = []
    c.consume('dl-order', (job) => {
      order.push(job.payload as string)
    })
    await c.result(late.id, { timeoutMs: 10_000 })
    await c.result(early.id, { timeoutMs: 10_000 })
    expect(order).toEqual(['past', 'early', 'late'])
  })

  it('a watcher of a delayed job sees the snapshot delayed, then queued, active, completed', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('dl-watch', 1, { delayMs: 300 })
    const watching = collect(c.watch(id), { timeoutMs: 10_000 })
    c.consume('dl-watch', () => 'done')
    const { items, ended } = await watching
    expect(ended).toBe(true)
    expect(items.map((e) => `${e.type}:${e.state}`)).toEqual(['snapshot:delayed', 'queued:queued', 'active:active', 'completed:completed'])
    expect(items[0].runAt).toBeTypeOf('number')
  })

  it('delayed jobs of a batch (submitMany with delayMs) all wait, then all run', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { ids } = await c.submitMany(
      'dl-many',
      Array.from({ length: 50 }, (_, i) => i),
      { delayMs: 300 },
    )
    expect((await c.stats('dl-many')).queues['dl-many'].delayed).toBe(50)
    c.consume('dl-many', (job) => job.payload, { concurrency: 8 })
    for (const [i, id] of ids.entries()) expect(await c.result(id, { timeoutMs: 10_000 })).toBe(i)
  })

  it('bad delays get bad_request and store nothing: negative, fractional, both delayMs and runAt, beyond 365 days, wrong types', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    const bad: unknown[] = [
      { delayMs: -1 },
      { delayMs: 1.5 },
      { delayMs: '100' },
      { delayMs: 100, runAt: Date.now() + 100 },
      { delayMs: 31_536_000_001 },
      { runAt: Date.now() + 400 * 86_400_000 },
      { runAt: -5 },
      { runAt: true },
    ]
    for (const opts of bad) {
      const reply = await client.request((rid) => [Op.submit, rid, 'dl-bad', bin('x'), opts])
      expect(reply.slice(0, 3), JSON.stringify(opts)).toEqual([Op.error, reply[1], 'bad_request'])
      expect(typeof reply[3]).toBe('string')
    }
    expect((await client.request((rid) => [Op.stats, rid, 'dl-bad']))[2]).toEqual({ queues: {} }) // nothing stored, not even the queue
  })
})

describe('retry backoff', () => {
  it('exponential backoff: the job is delayed between attempts, waits grow, and retrying events carry the next time', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('bo-exp', 'x', { maxAttempts: 4, backoff: { type: 'exponential', delayMs: 150 } })
    const watching = collect(c.watch(id), { timeoutMs: 15_000 })
    const starts: number[] = []
    c.consume('bo-exp', (job) => {
      starts.push(Date.now())
      if (job.attempt < 4) throw new Error(`fail ${job.attempt}`)
      return 'ok'
    })
    const { items } = await watching
    expect(starts).toHaveLength(4)
    const gaps = starts.slice(1).map((t, i) => t - starts[i])
    expect(gaps[0]).toBeGreaterThanOrEqual(150)
    expect(gaps[1]).toBeGreaterThanOrEqual(300)
    expect(gaps[2]).toBeGreaterThanOrEqual(600)
    const retrying = items.filter((e) => e.type === 'retrying') as WatchEvent[]
    expect(retrying.map((e) => e.state)).toEqual(['delayed', 'delayed', 'delayed'])
    expect(retrying.map((e) => (e.runAt as number) - e.at)).toEqual([
      expect.toSatisfy((d: number) => d >= 149 && d <= 151),
      expect.toSatisfy((d: number) => d >= 299 && d <= 301),
      expect.toSatisfy((d: number) => d >= 599 && d <= 601),
    ])
    expect(retrying[0].error?.message).toBe('fail 1')
    expect(items.at(-1)).toMatchObject({ type: 'completed', result: 'ok', attempt: 4 })
  })

  it('a job waiting for its retry is delayed in get() and stats, with its last error', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('bo-wait', 'x', { backoff: { type: 'fixed', delayMs: 60_000 } })
    const job = await c.pop('bo-wait', { timeoutMs: 2_000 })
    await job!.nack(new Error('later please'))
    const snap = await c.get(id)
    expect(snap).toMatchObject({ state: 'delayed', attempt: 1 })
    expect(snap.error?.message).toBe('later please')
    expect(snap.runAt! - Date.now()).toBeGreaterThan(55_000)
    expect((await c.stats('bo-wait')).queues['bo-wait']).toMatchObject({ delayed: 1, queued: 0, active: 0 })
    expect(await c.pop('bo-wait', { timeoutMs: 100 })).toBeNull()
  })

  it('a thrown error with retryAfterMs waits that long instead of the backoff; UnrecoverableError still fails at once', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const starts: number[] = []
    c.consume('bo-after', (job) => {
      starts.push(Date.now())
      if (job.attempt === 1) throw Object.assign(new Error('429 from the provider'), { retryAfterMs: 400 })
      return job.attempt
    })
    const { id } = await c.submit('bo-after', 1, { backoff: { type: 'fixed', delayMs: 60_000 } })
    expect(await c.result(id, { timeoutMs: 10_000 })).toBe(2)
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(400)
    expect(starts[1] - starts[0]).toBeLessThan(10_000)

    c.consume('bo-unrec', () => {
      throw Object.assign(new UnrecoverableError('no'), { retryAfterMs: 10 })
    })
    const f = await c.submit('bo-unrec', 1, { maxAttempts: 5 })
    await expect(c.result(f.id, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'job_failed' })
    expect((await c.get(f.id)).attempt).toBe(1)

    // A wish beyond the protocol's 365 days is capped there, not refused (which would strand the job).
    const errors: unknown[] = []
    const far = await connectClient(b.url, { onError: (e) => void errors.push(e) })
    far.consume('bo-far', () => {
      throw Object.assign(new Error('come back much later'), { retryAfterMs: 1e12 })
    })
    const g = await far.submit('bo-far', 1, { maxAttempts: 3 })
    await waitFor(async () => (await far.get(g.id)).state === 'delayed', 5_000, 'delayed by the capped wish', 50)
    const snap = await far.get(g.id)
    expect(snap.runAt! - Date.now()).toBeGreaterThan(364 * 86_400_000)
    expect(errors).toEqual([])
  })

  it('lease expiry waits for the backoff too (popped and never settled)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('bo-lease', 'x', { leaseMs: 1_000, backoff: { type: 'fixed', delayMs: 30_000 } })
    await c.pop('bo-lease', { timeoutMs: 2_000 })
    await waitFor(async () => (await c.get(id)).state === 'delayed', 5_000, 'delayed after the lease ended', 100)
    expect((await c.get(id)).error?.name).toBe('LeaseExpired')
  })

  it('bad backoff maps and retryAfterMs values get bad_request', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    const bad: unknown[] = [
      { backoff: 'exponential' },
      { backoff: { type: 'linear', delayMs: 10 } },
      { backoff: { type: 'fixed' } },
      { backoff: { type: 'fixed', delayMs: -1 } },
      { backoff: { type: 'fixed', delayMs: 10, jitter: 2 } },
      { backoff: { type: 'fixed', delayMs: 10, jitter: 'a' } },
      { backoff: { type: 'fixed', delayMs: 10, factor: 3 } },
      { backoff: [1, 2] },
    ]
    for (const opts of bad) {
      const reply = await client.request((rid) => [Op.submit, rid, 'bo-bad', bin('x'), opts])
      expect(reply.slice(0, 3), JSON.stringify(opts)).toEqual([Op.error, reply[1], 'bad_request'])
    }
    await client.request((rid) => [Op.submit, rid, 'bo-bad', bin('y'), null])
    const popped = await client.request((rid) => [Op.pop, rid, ['bo-bad'], 2_000])
    for (const opts of [{ retryAfterMs: -1 }, { retryAfterMs: 'soon' }, { retryAfterMs: 1e12 }, { later: 5 }]) {
      const reply = await client.request((rid) => [Op.nack, rid, popped[2], popped[5], null, opts])
      expect(reply.slice(0, 3), JSON.stringify(opts)).toEqual([Op.error, reply[1], 'bad_request'])
    }
    // still held: a valid nack is accepted
    expect((await client.request((rid) => [Op.nack, rid, popped[2], popped[5], null, { retryAfterMs: 5 }]))[0]).toBe(Op.ok)
  })
})
