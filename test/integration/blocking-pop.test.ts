// Blocking pop (PROTOCOL.md §3 consume / pop): an idle consumer is parked and a job committed later
// is pushed to it at once — no polling — and a consumer on several queues is served in priority order.

import { describe, expect, it } from 'vitest'
import { connectClient, sleep, startBroker, waitFor } from '../helpers/broker.js'

async function consumersOn(client: Awaited<ReturnType<typeof connectClient>>, queue: string): Promise<number> {
  const s = await client.stats(queue)
  return s.queues[queue]?.consumers ?? 0
}

describe('blocking pop', () => {
  it('a parked idle consumer gets a job submitted later within 200 ms of the submit (no polling loop)', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    const started = new Map<string, number>()
    workerConn.consume('bp-latency', (job) => {
      started.set(job.id, performance.now())
      return 'ok'
    })
    await waitFor(async () => (await consumersOn(producer, 'bp-latency')) === 1, 5_000, 'consumer registered')

    const latencies: number[] = []
    for (let i = 0; i < 5; i++) {
      await sleep(150 + 70 * i) // let the consumer sit idle (parked) for a while each time
      const t0 = performance.now()
      const { id } = await producer.submit('bp-latency', { i })
      const tStart = await waitFor(() => started.get(id), 5_000, `job ${id} to start`)
      latencies.push(tStart - t0)
    }
    console.log(`submit → handler start latencies (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}`)
    for (const l of latencies) expect(l).toBeLessThan(200)
  })

  it('a consumer on [high, low] takes every queued high job before any low job', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    // Lows first, so FIFO-across-queues or submit order would put them first.
    const lows = (
      await producer.submitMany(
        'bp-low',
        [1, 2, 3, 4, 5].map((n) => ({ q: 'low', n })),
      )
    ).ids
    const highs = (
      await producer.submitMany(
        'bp-high',
        [1, 2, 3, 4, 5].map((n) => ({ q: 'high', n })),
      )
    ).ids

    const workerConn = await connectClient(b.url)
    const order: string[] = []
    workerConn.consume(
      ['bp-high', 'bp-low'],
      async (job) => {
        order.push(job.id)
        await sleep(2)
        return null
      },
      { concurrency: 1 },
    )
    await waitFor(() => order.length === 10, 10_000, 'all 10 jobs handled')
    expect(order).toEqual([...highs, ...lows])
  })

  it('a high job submitted while lows are being worked on is taken before the remaining lows', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const lows = (
      await producer.submitMany(
        'bp2-low',
        Array.from({ length: 6 }, (_, n) => ({ n })),
      )
    ).ids
    const workerConn = await connectClient(b.url)
    const order: string[] = []
    let highId = ''
    workerConn.consume(
      ['bp2-high', 'bp2-low'],
      async (job) => {
        order.push(job.id)
        if (order.length === 1) highId = (await producer.submit('bp2-high', { urgent: true })).id
        await sleep(5)
        return null
      },
      { concurrency: 1 },
    )
    await waitFor(() => order.length === 7, 10_000, 'all 7 jobs handled')
    expect(order[0]).toBe(lows[0])
    expect(order[1]).toBe(highId)
    expect(order.slice(2)).toEqual(lows.slice(1))
  })

  it('pop() returns a job submitted after the pop started, promptly', async () => {
    const b = await startBroker()
    const popper = await connectClient(b.url)
    const producer = await connectClient(b.url)
    const popping = popper.pop('bp-pop', { timeoutMs: 5_000 })
    await sleep(200)
    const t0 = performance.now()
    const { id } = await producer.submit('bp-pop', { hello: 'pop' })
    const job = await popping
    const latency = performance.now() - t0
    expect(job).not.toBeNull()
    expect(job!.id).toBe(id)
    expect(job!.payload).toEqual({ hello: 'pop' })
    expect(job!.attempt).toBe(1)
    expect(latency).toBeLessThan(500)
    await job!.ack({ popped: true })
    expect(await producer.result(id, { timeoutMs: 5_000 })).toEqual({ popped: true })
  })

  it('pop() resolves null after its timeout when nothing arrives, and not much later', async () => {
    const b = await startBroker()
    const popper = await connectClient(b.url)
    const t0 = performance.now()
    const job = await popper.pop('bp-empty', { timeoutMs: 400 })
    const waited = performance.now() - t0
    expect(job).toBeNull()
    expect(waited).toBeGreaterThanOrEqual(350)
    expect(waited).toBeLessThan(2_000)
    // a job submitted after the timed-out pop is not silently taken by it
    const { id } = await popper.submit('bp-empty', 1)
    expect((await popper.get(id)).state).toBe('queued')
  })

  it('pop() with timeout 0 returns an already queued job at once', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('bp-now', 'x')
    const job = await c.pop('bp-now', { timeoutMs: 0 })
    expect(job?.id).toBe(id)
    expect((await c.get(id)).state).toBe('active')
  })
})
