// Consumer death (PROTOCOL.md §6 `lost`): when a worker's connection dies, its unsettled
// deliveries go back to the queue at once (attempt + 1) — not when their lease would have ended.

import { describe, expect, it } from 'vitest'
import { connectClient, spawnWorker, startBroker, waitFor } from '../helpers/broker.js'

interface Seen {
  id: string
  attempt: number
  at: number
}

describe('consumer death', () => {
  it('jobs of a worker process killed with kill -9 mid-job are redelivered to another worker within 2 s (lease 60 s), attempt 2', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const producer = await connectClient(b.url)
    const doomed = spawnWorker('worker.mjs', [JSON.stringify({ url: b.url, queues: 'cd-q', concurrency: 3, mode: 'hang' })])
    await doomed.waitForMessage((m) => m.ready === true, 10_000, 'worker ready')
    await waitFor(async () => (await producer.stats('cd-q')).queues['cd-q']?.consumers === 1, 5_000, 'worker consumer registered')

    const { ids } = await producer.submitMany('cd-q', ['a', 'b', 'c'])
    await waitFor(() => doomed.messages.filter((m) => 'started' in m).length === 3, 10_000, 'the worker to start 3 jobs')
    expect(doomed.messages.filter((m) => 'started' in m).map((m) => m.attempt)).toEqual([1, 1, 1])

    const seen: Seen[] = []
    const survivorConn = await connectClient(b.url)
    survivorConn.consume(
      'cd-q',
      (job) => {
        seen.push({ id: job.id, attempt: job.attempt, at: Date.now() })
        return 'rescued'
      },
      { concurrency: 3 },
    )
    await waitFor(async () => (await producer.stats('cd-q')).queues['cd-q']?.consumers === 2, 5_000, 'survivor registered')
    expect(seen).toEqual([]) // nothing free to take while the doomed worker holds all three

    const tKill = Date.now()
    await doomed.kill9()
    await waitFor(() => seen.length >= 3, 5_000, 'redelivery of all 3 jobs')
    const delays = seen.map((s) => s.at - tKill)
    console.log(`redelivery after kill -9 (ms): ${delays.join(', ')}`)
    for (const d of delays) expect(d).toBeLessThan(2_000)
    expect(seen.map((s) => s.id).sort()).toEqual([...ids].sort())
    for (const s of seen) expect(s.attempt).toBe(2)
    for (const id of ids) expect(await producer.result(id, { timeoutMs: 5_000 })).toBe('rescued')
  })

  it('a job popped (never acked) by a process killed with kill -9 is redelivered at once with attempt 2', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('cd-pop', { n: 1 })
    const doomed = spawnWorker('worker.mjs', [JSON.stringify({ url: b.url, queues: ['cd-pop'], concurrency: 1, mode: 'pop-hang' })])
    await doomed.waitForMessage((m) => m.started === id, 10_000, 'the popped job')
    expect((await producer.get(id)).state).toBe('active')

    const tKill = Date.now()
    await doomed.kill9()
    const again = await producer.pop('cd-pop', { timeoutMs: 5_000 })
    expect(again?.id).toBe(id)
    expect(again?.attempt).toBe(2)
    expect(Date.now() - tKill).toBeLessThan(2_000)
    await again!.ack('ok')
  })

  it('a worker killed on the last attempt leaves the job failed, not queued', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('cd-last', null, { maxAttempts: 1 })
    const doomed = spawnWorker('worker.mjs', [JSON.stringify({ url: b.url, queues: 'cd-last', mode: 'hang' })])
    await doomed.waitForMessage((m) => m.started === id, 10_000, 'the job to start')
    await doomed.kill9()
    const snap = await waitFor(
      async () => {
        const s = await producer.get(id)
        return s.state === 'failed' ? s : null
      },
      5_000,
      'the job to fail',
      50,
    )
    expect(snap.attempt).toBe(1)
  })
})
