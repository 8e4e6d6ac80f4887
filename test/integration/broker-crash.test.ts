// Broker death (DESIGN.md "nothing acknowledged is lost"): a submit is confirmed only after its
// commit, so every confirmed job survives kill -9 of the broker and completes after a restart on
// the same file; jobs that were active at the crash are delivered again (at-least-once).

import { describe, expect, it } from 'vitest'
import { connectClient, sleep, startBroker, waitFor, withTimeout, type Client } from '../helpers/broker.js'

/** Submits continuously (up to `window` in flight) until stopped; records confirmed ids. */
function produce(client: Client, queue: string, window: number, maxJobs: number) {
  const confirmed = new Set<string>()
  let stopped = false
  let failures = 0
  let sent = 0
  const inflight = new Set<Promise<void>>()
  const loop = (async () => {
    // bounded by count (maxJobs) and by the stop flag the test sets
    while (!stopped && sent < maxJobs) {
      if (inflight.size >= window) {
        await Promise.race(inflight)
        continue
      }
      const n = sent++
      const p: Promise<void> = client.submit(queue, { n }).then(
        ({ id }) => void confirmed.add(id),
        () => {
          // the connection is gone: a real producer stops here (and so no submit is left hanging)
          failures++
          stopped = true
        },
      )
      const tracked = p.finally(() => inflight.delete(tracked))
      inflight.add(tracked)
    }
  })()
  return {
    confirmed,
    get failures() {
      return failures
    },
    get sent() {
      return sent
    },
    async stop() {
      stopped = true
      await withTimeout(loop, 5_000, 'producer loop').catch(() => {})
      await withTimeout(Promise.allSettled([...inflight]), 5_000, 'in-flight submits').catch(() => {})
    },
  }
}

async function expectAllCompleted(client: Client, ids: string[]): Promise<void> {
  const notDone: string[] = []
  for (let i = 0; i < ids.length; i += 500) {
    const snaps = await Promise.all(
      ids.slice(i, i + 500).map((id) =>
        client.get(id).then(
          (s) => s.state,
          (e: Error) => `error: ${e.message}`,
        ),
      ),
    )
    snaps.forEach((state, k) => {
      if (state !== 'completed') notDone.push(`${ids[i + k]}:${state}`)
    })
  }
  expect(notDone.slice(0, 20), `${notDone.length} confirmed jobs not completed`).toEqual([])
}

describe.each(['normal', 'strict'])('broker kill -9 (--durability %s)', (durability) => {
  it('every submit confirmed before kill -9 under load completes after a restart on the same file (zero lost)', async () => {
    const b = await startBroker({ args: ['--durability', durability] })
    const producerConn = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    const handled = new Map<string, number>() // job id → handler completions, across both runs
    const handler = async (job: { id: string }) => {
      await sleep(Math.random() * 3)
      handled.set(job.id, (handled.get(job.id) ?? 0) + 1)
      return { ok: job.id }
    }
    workerConn.consume('crash-q', handler, { concurrency: 16 })
    const producer = produce(producerConn, 'crash-q', 64, 200_000)

    await waitFor(() => producer.confirmed.size >= 2_000, 20_000, '2,000 confirmed submits', 20)
    await sleep(200) // still under load
    await b.kill9()
    await producer.stop()
    const confirmed = [...producer.confirmed]
    console.log(
      `[${durability}] sent ${producer.sent}, confirmed ${confirmed.length}, failed/unconfirmed ${producer.failures}, handled before crash ${handled.size}`,
    )
    await Promise.all([producerConn.close(), workerConn.close()]).catch(() => {})

    const b2 = await b.restart()
    const checker = await connectClient(b2.url)
    const worker2 = await connectClient(b2.url)
    worker2.consume('crash-q', handler, { concurrency: 16 })
    await waitFor(
      async () => {
        const q = (await checker.stats('crash-q')).queues['crash-q']
        return q !== undefined && q.queued === 0 && q.active === 0
      },
      30_000,
      'the queue to drain after restart',
      100,
    )

    const lost = confirmed.filter((id) => !handled.has(id))
    const duplicates = [...handled.values()].filter((n) => n > 1).length
    console.log(`[${durability}] after restart: lost ${lost.length}, handled more than once ${duplicates}`)
    expect(lost.slice(0, 20), `${lost.length} confirmed jobs never handled`).toEqual([])
    await expectAllCompleted(checker, confirmed)
  })
})

describe('broker kill -9: active jobs', () => {
  it('jobs delivered but not acked at kill -9 are delivered again after restart, with the same attempt number', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const producer = await connectClient(b.url)
    const holderConn = await connectClient(b.url)
    const { ids } = await producer.submitMany('crash-active', [1, 2, 3, 4, 5])
    const heldAttempts: number[] = []
    holderConn.consume(
      'crash-active',
      async (job) => {
        heldAttempts.push(job.attempt)
        await new Promise(() => {}) // never settles
      },
      { concurrency: 5 },
    )
    await waitFor(() => heldAttempts.length === 5, 5_000, '5 jobs active')
    for (const id of ids) expect((await producer.get(id)).state).toBe('active')

    await b.kill9()
    await Promise.all([producer.close(), holderConn.close()]).catch(() => {})
    const b2 = await b.restart()
    const c = await connectClient(b2.url)
    for (const id of ids) expect((await c.get(id)).state).toBe('queued')
    const again = new Map<string, number>()
    c.consume(
      'crash-active',
      (job) => {
        again.set(job.id, job.attempt)
        return 'after restart'
      },
      { concurrency: 5 },
    )
    await waitFor(() => again.size === 5, 5_000, 'all 5 redelivered')
    expect([...again.keys()].sort()).toEqual([...ids].sort())
    // PROTOCOL.md §6: a broker crash does not use up one of the job's attempts
    expect([...again.values()]).toEqual([1, 1, 1, 1, 1])
    for (const id of ids) expect(await c.result(id, { timeoutMs: 5_000 })).toBe('after restart')
  })

  it('a completed job keeps its result across kill -9 and restart', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('crash-done', { x: 1 })
    const job = await c.pop('crash-done', { timeoutMs: 1_000 })
    await job!.ack({ answer: 42 })
    await b.kill9()
    await c.close()
    const b2 = await b.restart()
    const c2 = await connectClient(b2.url)
    const snap = await c2.get(id)
    expect(snap.state).toBe('completed')
    expect(snap.result).toEqual({ answer: 42 })
    // and it is not delivered again
    expect(await c2.pop('crash-done', { timeoutMs: 300 })).toBeNull()
  })
})
