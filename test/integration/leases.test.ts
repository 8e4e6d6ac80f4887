// Leases (PROTOCOL.md §3 ack/nack/extend, §6 expire): a delivery not settled before its lease ends
// goes back to the queue and is delivered again with attempt + 1; the SDK extends leases while a
// handler runs, so a long handler is never redelivered.

import { describe, expect, it } from 'vitest'
import { BrokerError } from '../../clients/index.js'
import { connectClient, gate, sleep, startBroker, waitFor } from '../helpers/broker.js'

interface Seen {
  id: string
  attempt: number
  at: number
}

describe('leases', () => {
  it('a popped job never acked goes back to the queue after --lease-ms and is delivered again with attempt 2', async () => {
    const b = await startBroker({ args: ['--lease-ms', '1000'] })
    const producer = await connectClient(b.url)
    const holder = await connectClient(b.url)
    const { id } = await producer.submit('ls-pop', { n: 1 })
    const popped = await holder.pop('ls-pop', { timeoutMs: 2_000 })
    expect(popped?.id).toBe(id)
    expect(popped?.attempt).toBe(1)
    const tPop = Date.now()

    const seen: Seen[] = []
    const other = await connectClient(b.url)
    other.consume('ls-pop', (job) => {
      seen.push({ id: job.id, attempt: job.attempt, at: Date.now() })
      return 'second try'
    })
    await waitFor(() => seen.length >= 1, 10_000, 'redelivery after the lease')
    expect(seen[0].id).toBe(id)
    expect(seen[0].attempt).toBe(2)
    expect(seen[0].at - tPop).toBeGreaterThanOrEqual(900)
    expect(await producer.result(id, { timeoutMs: 5_000 })).toBe('second try')

    // the first holder's lease is gone: its late ack is refused and changes nothing
    const err = await popped!.ack('too late').then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).code).toBe('lease_expired')
    const snap = await producer.get(id)
    expect(snap.state).toBe('completed')
    expect(snap.result).toBe('second try')
  })

  it('a job submitted with leaseMs 1000 is redelivered after ~1 s even though the broker default is 30 s', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('ls-joblease', 'x', { leaseMs: 1_000 })
    const first = await c.pop('ls-joblease', { timeoutMs: 2_000 })
    expect(first?.id).toBe(id)
    const t0 = Date.now()
    const again = await c.pop('ls-joblease', { timeoutMs: 8_000 })
    expect(again?.id).toBe(id)
    expect(again?.attempt).toBe(2)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800)
    expect(Date.now() - t0).toBeLessThan(6_000)
  })

  it('a handler with autoExtend: false that outlives consume({ leaseMs: 1000 }) loses the job to attempt 2', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    const seen: Seen[] = []
    const firstReleased = gate()
    workerConn.consume(
      'ls-noext',
      async (job) => {
        seen.push({ id: job.id, attempt: job.attempt, at: Date.now() })
        if (job.attempt === 1) {
          await firstReleased.promise // hangs well past its lease
          return 'first'
        }
        return 'second'
      },
      { concurrency: 2, leaseMs: 1_000, autoExtend: false },
    )
    const { id } = await producer.submit('ls-noext', null)
    await waitFor(() => seen.length >= 2, 10_000, 'the redelivery')
    expect(seen.map((s) => s.attempt)).toEqual([1, 2])
    expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(900)
    expect(await producer.result(id, { timeoutMs: 5_000 })).toBe('second')
    firstReleased.open()
    await sleep(200)
    // the stale first delivery finishing later does not overwrite the outcome
    const snap = await producer.get(id)
    expect(snap.result).toBe('second')
    expect(snap.attempt).toBe(2)
  })

  it('with autoExtend (default) a handler running 3x its lease (--lease-ms 1000) completes once and is never redelivered', async () => {
    const b = await startBroker({ args: ['--lease-ms', '1000'] })
    const producer = await connectClient(b.url)
    const calls: Seen[] = []
    for (let w = 0; w < 2; w++) {
      // a second, idle consumer would receive any redelivery
      const conn = await connectClient(b.url)
      conn.consume('ls-ext', async (job) => {
        calls.push({ id: job.id, attempt: job.attempt, at: Date.now() })
        await sleep(3_000)
        return { slow: true }
      })
    }
    const { id } = await producer.submit('ls-ext', null)
    expect(await producer.result(id, { timeoutMs: 15_000 })).toEqual({ slow: true })
    await sleep(300)
    expect(calls).toHaveLength(1)
    expect(calls[0].attempt).toBe(1)
  })

  it('with autoExtend (default) a handler running 3x consume({ leaseMs: 1000 }) completes once and is never redelivered', async () => {
    const b = await startBroker() // default lease 30 s: only the consumer's 1 s lease applies
    const producer = await connectClient(b.url)
    const calls: Seen[] = []
    for (let w = 0; w < 2; w++) {
      const conn = await connectClient(b.url)
      conn.consume(
        'ls-ext2',
        async (job) => {
          calls.push({ id: job.id, attempt: job.attempt, at: Date.now() })
          await sleep(3_000)
          return 'done'
        },
        { leaseMs: 1_000 },
      )
    }
    const { id } = await producer.submit('ls-ext2', null)
    expect(await producer.result(id, { timeoutMs: 15_000 })).toBe('done')
    await sleep(300)
    expect(calls).toHaveLength(1)
  })

  it('a job whose lease expires on its last attempt ends failed', async () => {
    const b = await startBroker({ args: ['--lease-ms', '1000'] })
    const c = await connectClient(b.url)
    const { id } = await c.submit('ls-last', null, { maxAttempts: 1 })
    const job = await c.pop('ls-last', { timeoutMs: 2_000 })
    expect(job?.attempt).toBe(1)
    const snap = await waitFor(
      async () => {
        const s = await c.get(id)
        return s.state === 'failed' ? s : null
      },
      10_000,
      'the job to fail after its only lease expired',
      100,
    )
    expect(snap.attempt).toBe(1)
    expect(await c.pop('ls-last', { timeoutMs: 0 })).toBeNull()
  })

  it("the handler's ctx.signal aborts when its lease expires (autoExtend: false)", async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    let abortedAfterMs = -1
    workerConn.consume(
      'ls-signal',
      async (job, ctx) => {
        if (job.attempt > 1) return 'later'
        const t0 = Date.now()
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve(), { once: true })
          setTimeout(resolve, 8_000) // bounded
        })
        abortedAfterMs = ctx.signal.aborted ? Date.now() - t0 : -2
        return 'first'
      },
      { concurrency: 2, leaseMs: 1_000, autoExtend: false },
    )
    await producer.submit('ls-signal', null)
    await waitFor(() => abortedAfterMs !== -1, 10_000, 'the first handler to return')
    expect(abortedAfterMs).toBeGreaterThanOrEqual(0) // -2: the signal never aborted
    expect(abortedAfterMs).toBeLessThan(3_000)
  })
})
