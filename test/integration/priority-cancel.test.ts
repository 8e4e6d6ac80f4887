// Priorities (PROTOCOL.md §5 priority) and cancellation (§3 cancel, revoke): higher priority
// runs first and FIFO within one; a cancelled job ends `cancelled` at once wherever it is, a
// running handler is aborted, and its late outcome changes nothing.

import { describe, expect, it } from 'vitest'
import { JobCancelledError } from '../../clients/index.js'
import { collect, connectClient, gate, sleep, startBroker, waitFor } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('priorities', () => {
  it('a backlog is served highest priority first, FIFO within a priority, negative last', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const plan: Array<[string, number]> = [
      ['p0-1', 0],
      ['p-5', -5],
      ['p7-1', 7],
      ['p0-2', 0],
      ['p1000', 1000],
      ['p7-2', 7],
      ['p-1000', -1000],
    ]
    for (const [payload, priority] of plan) await c.submit('pr-q', payload, { priority })
    expect((await c.get((await c.submit('pr-q', 'probe', { priority: 3 })).id)).priority).toBe(3)
    const order: string[] = []
    c.consume('pr-q', (job) => {
      order.push(job.payload as string)
    })
    await waitFor(() => order.length === 8, 5_000, 'all 8 handled')
    expect(order).toEqual(['p1000', 'p7-1', 'p7-2', 'probe', 'p0-1', 'p0-2', 'p-5', 'p-1000'])
  })

  it('a multi-queue consumer takes queue order first, then priority inside each queue', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.submit('pr-low', 'low-urgent', { priority: 100 })
    await c.submit('pr-high', 'high-normal')
    await c.submit('pr-high', 'high-urgent', { priority: 5 })
    const order: string[] = []
    c.consume(['pr-high', 'pr-low'], (job) => {
      order.push(job.payload as string)
    })
    await waitFor(() => order.length === 3, 5_000, 'all handled')
    expect(order).toEqual(['high-urgent', 'high-normal', 'low-urgent'])
  })

  it('priorities outside -1000…1000 or not integers get bad_request', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    for (const priority of [1001, -1001, 1.5, '5', true]) {
      const reply = await client.request((rid) => [Op.submit, rid, 'pr-bad', bin('x'), { priority }])
      expect(reply.slice(0, 3), String(priority)).toEqual([Op.error, reply[1], 'bad_request'])
    }
    const ok = await client.request((rid) => [Op.submit, rid, 'pr-bad', bin('x'), { priority: -1000 }])
    expect(ok[0]).toBe(Op.submitted)
  })
})

describe('cancel', () => {
  it('a queued job: cancelled at once, never delivered; its watcher sees cancelled; result() rejects with JobCancelledError', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('cn-queued', 'x')
    const keep = await c.submit('cn-queued', 'y')
    const watching = collect(c.watch(id), { timeoutMs: 5_000 })
    await sleep(50)
    expect(await c.cancel(id)).toEqual({ state: 'cancelled', cancelled: true })
    const { items, ended } = await watching
    expect(ended).toBe(true)
    expect(items.map((e) => `${e.type}:${e.state}`)).toEqual(['snapshot:queued', 'cancelled:cancelled'])
    await expect(c.result(id, { timeoutMs: 2_000 })).rejects.toBeInstanceOf(JobCancelledError)
    const seen: string[] = []
    c.consume('cn-queued', (job) => {
      seen.push(job.payload as string)
    })
    await c.result(keep.id, { timeoutMs: 5_000 })
    await sleep(100)
    expect(seen).toEqual(['y'])
    expect((await c.get(id)).state).toBe('cancelled')
    expect((await c.stats('cn-queued')).queues['cn-queued']).toMatchObject({ queued: 0, cancelled: 1 })
  })

  it('a delayed job: cancelled, never comes due', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('cn-delayed', 'x', { delayMs: 300 })
    expect(await c.cancel(id)).toEqual({ state: 'cancelled', cancelled: true })
    let ran = false
    c.consume('cn-delayed', () => {
      ran = true
    })
    await sleep(700)
    expect(ran).toBe(false)
    expect((await c.stats('cn-delayed')).queues['cn-delayed']).toMatchObject({ delayed: 0, queued: 0, cancelled: 1 })
  })

  it('an active job: its handler sees ctx.signal aborted (JobCancelledError), the job ends cancelled and is never retried; its credit is held until the handler ends', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const worker = await connectClient(b.url)
    const release = gate()
    const reasons: unknown[] = []
    const started: string[] = []
    worker.consume(
      'cn-active',
      async (job, ctx) => {
        started.push(job.payload as string)
        if (job.payload === 'long') {
          ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason))
          await release.promise
          return 'late result'
        }
        return 'next'
      },
      { concurrency: 1 },
    )
    const { id } = await c.submit('cn-active', 'long', { maxAttempts: 5 })
    await waitFor(() => started.length === 1, 5_000, 'handler started')
    const next = await c.submit('cn-active', 'next-job')
    expect(await c.cancel(id)).toEqual({ state: 'cancelled', cancelled: true })
    await waitFor(() => reasons.length === 1, 5_000, 'signal aborted')
    expect(reasons[0]).toBeInstanceOf(JobCancelledError)
    expect((await c.get(id)).state).toBe('cancelled')
    // concurrency 1: the cancelled handler still runs, so the next job waits for it
    await sleep(300)
    expect(started).toEqual(['long'])
    release.open()
    expect(await c.result(next.id, { timeoutMs: 5_000 })).toBe('next')
    const snap = await c.get(id)
    expect(snap.state).toBe('cancelled')
    expect(snap.result).toBeUndefined()
    expect(snap.attempt).toBe(1)
    expect(started).toEqual(['long', 'next-job'])
  })

  it('a late ack of a cancelled delivery (raw protocol) is answered lease_expired and changes nothing; extend too', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { client } = await RawClient.session(b.url)
    const { id } = await c.submit('cn-raw', 'x')
    const popped = await client.request((rid) => [Op.pop, rid, ['cn-raw'], 2_000])
    expect(popped[2]).toBe(Number(id))
    const from = client.messages.length
    await c.cancel(id)
    const revoke = await client.waitFor((m) => m[0] === Op.revoke, 3_000, 'revoke', from)
    expect(revoke).toEqual([Op.revoke, 0, Number(id), 1, 'cancelled'])
    const ext = await client.request((rid) => [Op.extend, rid, Number(id), 1, 5_000])
    expect(ext.slice(0, 3)).toEqual([Op.error, ext[1], 'lease_expired'])
    const ack = await client.request((rid) => [Op.ack, rid, Number(id), 1, bin('done anyway')])
    expect(ack.slice(0, 3)).toEqual([Op.error, ack[1], 'lease_expired'])
    const snap = await c.get(id)
    expect(snap.state).toBe('cancelled')
    expect(snap.result).toBeUndefined()
  })

  it('cancelling a finished job changes nothing and says its state; an unknown id is not_found', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    c.consume('cn-done', () => 'r')
    const { id } = await c.submit('cn-done', 1)
    await c.result(id, { timeoutMs: 5_000 })
    expect(await c.cancel(id)).toEqual({ state: 'completed', cancelled: false })
    expect(await c.result(id, { timeoutMs: 5_000 })).toBe('r')
    await expect(c.cancel('987654')).rejects.toMatchObject({ code: 'not_found' })
    // The SDK refuses what is not a job id before sending anything.
    for (const call of [
      () => c.cancel('x'),
      () => c.retry('-3'),
      () => c.remove('1.5'),
      () => c.listJobs('cn-done', { state: 'completed', cursor: 'next' }),
    ])
      await expect(call()).rejects.toMatchObject({ code: 'bad_request' })
    const { client } = await RawClient.session(b.url)
    for (const job of ['1', -1, null, 1.5]) {
      const reply = await client.request((rid) => [Op.cancel, rid, job])
      expect(reply.slice(0, 3)).toEqual([Op.error, reply[1], 'bad_request'])
    }
  })
})
