// Credit flow control (PROTOCOL.md §3 consume / credit): the broker never has more unsettled
// deliveries out to a consumer than its credit, and a new credit total applies at once.

import { describe, expect, it } from 'vitest'
import { connectClient, gate, sleep, startBroker, waitFor, type Gate } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('credit', () => {
  it('a consumer with concurrency 4 never runs 5 handlers at once over 200 jobs (and does reach 4)', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    await producer.submitMany(
      'cr-200',
      Array.from({ length: 200 }, (_, i) => i),
    )
    let running = 0
    let maxRunning = 0
    let maxReported = 0
    let done = 0
    const worker = workerConn.consume(
      'cr-200',
      async () => {
        running++
        maxRunning = Math.max(maxRunning, running)
        maxReported = Math.max(maxReported, worker.running)
        await sleep(2 + Math.random() * 4)
        running--
        done++
        return null
      },
      { concurrency: 4 },
    )
    await waitFor(() => done === 200, 30_000, 'all 200 jobs done')
    expect(maxRunning).toBeLessThanOrEqual(4)
    expect(maxReported).toBeLessThanOrEqual(4)
    expect(maxRunning).toBe(4)
  })

  it('the broker sends exactly `credit` deliveries to an unsettled consumer and one more per ack (raw protocol)', async () => {
    const b = await startBroker()
    const { client: producer } = await RawClient.session(b.url)
    const { client: consumer } = await RawClient.session(b.url)
    const submitted = await producer.request((rid) => [Op.submitMany, rid, 'cr-raw', Array.from({ length: 10 }, (_, i) => [bin(i)])])
    expect(submitted[0]).toBe(Op.submitted)
    const ok = await consumer.request((rid) => [Op.consume, rid, 7, ['cr-raw'], 3])
    expect(ok[0]).toBe(Op.ok)
    const deliveries = () => consumer.messages.filter((m) => m[0] === Op.deliver)
    await waitFor(() => deliveries().length >= 3, 3_000, '3 deliveries')
    await sleep(300)
    expect(deliveries().length).toBe(3)
    for (const d of deliveries()) expect(d[1]).toBe(7) // addressed to our consumer id

    const first = deliveries()[0]
    consumer.send([Op.ack, 0, first[2], first[5]]) // rid 0: no reply on success
    await waitFor(() => deliveries().length >= 4, 3_000, 'a 4th delivery after one ack')
    await sleep(300)
    expect(deliveries().length).toBe(4)
    expect(consumer.messages.filter((m) => m[0] === Op.error)).toEqual([])

    // credit 0: nothing new even after settling everything outstanding
    const credited = await consumer.request((rid) => [Op.credit, rid, 7, 0])
    expect(credited[0]).toBe(Op.ok)
    for (const d of deliveries().slice(1)) consumer.send([Op.ack, 0, d[2], d[5]])
    await sleep(400)
    expect(deliveries().length).toBe(4)
    // credit 2: exactly two more
    await consumer.request((rid) => [Op.credit, rid, 7, 2])
    await waitFor(() => deliveries().length >= 6, 3_000, '2 more deliveries')
    await sleep(300)
    expect(deliveries().length).toBe(6)
  })

  it('setConcurrency takes effect at once: raising it starts more handlers, lowering it runs fewer', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    await producer.submitMany(
      'cr-set',
      Array.from({ length: 30 }, (_, i) => i),
    )
    const gates = new Map<string, Gate>()
    let running = 0
    let maxRunning = 0
    let started = 0
    const worker = workerConn.consume(
      'cr-set',
      async (job) => {
        started++
        running++
        maxRunning = Math.max(maxRunning, running)
        const g = gate()
        gates.set(job.id, g)
        await g.promise
        running--
        return null
      },
      { concurrency: 2 },
    )

    await waitFor(() => running === 2, 5_000, '2 handlers running')
    await sleep(300)
    expect(started).toBe(2)

    // raise: 5 run at once, no more
    worker.setConcurrency(5)
    await waitFor(() => running === 5, 2_000, '5 handlers running after setConcurrency(5)')
    await sleep(300)
    expect(started).toBe(5)
    expect(maxRunning).toBe(5)

    // lower to 1 while 5 run: nothing new starts until fewer than 1 are unsettled
    worker.setConcurrency(1)
    await sleep(200)
    const releaseOne = () => {
      const [id, g] = gates.entries().next().value as [string, Gate]
      gates.delete(id)
      g.open()
    }
    for (let i = 0; i < 4; i++) releaseOne()
    await waitFor(() => running === 1, 2_000, 'down to 1 running')
    await sleep(300)
    expect(started).toBe(5) // 4 settled, 1 still running: credit 1 is used up
    maxRunning = running
    // from now on handlers run one at a time
    for (let i = 0; i < 5; i++) {
      const before = started
      releaseOne()
      await waitFor(() => started === before + 1, 2_000, 'the next job to start')
      await sleep(50)
      expect(running).toBe(1)
    }
    expect(maxRunning).toBe(1)
  })
})
