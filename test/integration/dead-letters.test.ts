// Dead letters and job management (PROTOCOL.md §3 list_jobs, retry, redrive, purge, remove): a
// job out of attempts stays listed as failed until purged; it can be sent back under its id.

import { describe, expect, it } from 'vitest'
import { collect, connectClient, sleep, startBroker, waitFor, type Client } from '../helpers/broker.js'
import { Op, RawClient } from '../helpers/raw.js'
import type { JobPage } from '../../clients/types.js'

/** Submits `n` jobs with maxAttempts 1 to a queue whose handler always throws; waits until all failed. */
async function deadLetters(c: Client, queue: string, n: number): Promise<string[]> {
  const worker = c.consume(
    queue,
    (job) => {
      throw new Error(`bad ${String(job.payload)}`)
    },
    { concurrency: 8 },
  )
  const { ids } = await c.submitMany(
    queue,
    Array.from({ length: n }, (_, i) => i),
    { maxAttempts: 1 },
  )
  await waitFor(async () => (await c.stats(queue)).queues[queue].failed === n, 10_000, `${n} failed`, 50)
  await worker.close()
  return ids
}

describe('dead letters', () => {
  it('listJobs pages through failed jobs newest first with their errors; the pages never repeat or skip one', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const ids = await deadLetters(c, 'dl-list', 25)
    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 10; page++) {
      const r: JobPage = await c.listJobs('dl-list', { state: 'failed', limit: 10, cursor })
      expect(r.jobs.length).toBeLessThanOrEqual(10)
      for (const j of r.jobs) {
        expect(j.state).toBe('failed')
        expect(j.error?.message).toMatch(/^bad \d+$/)
        seen.push(j.id)
      }
      cursor = r.cursor
      if (cursor === null) break
    }
    expect(seen).toEqual([...ids].reverse())
    expect((await c.listJobs('dl-list', { state: 'completed' })).jobs).toEqual([])
  })

  it('retry(id) sends one failed job back under its id with attempts reset, and it completes', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const [id] = await deadLetters(c, 'dl-retry', 1)
    await c.retry(id)
    const snap = await c.get(id)
    expect(snap).toMatchObject({ state: 'queued', attempt: 0 })
    expect(snap.finishedAt).toBeUndefined()
    const watching = collect(c.watch(id), { timeoutMs: 5_000 })
    await sleep(100) // the snapshot (queued) is in before a worker exists
    const attempts: number[] = []
    c.consume('dl-retry', (job) => {
      attempts.push(job.attempt)
      return 'fixed'
    })
    expect(await c.result(id, { timeoutMs: 5_000 })).toBe('fixed')
    expect(attempts).toEqual([1])
    expect((await watching).items.map((e) => e.state)).toEqual(['queued', 'active', 'completed'])
    expect((await c.stats('dl-retry')).queues['dl-retry']).toMatchObject({ failed: 0, completed: 1 })
  })

  it('retry of a job that is not failed or cancelled is a conflict; of an unknown one not_found', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('dl-conflict', 1)
    await expect(c.retry(id)).rejects.toMatchObject({ code: 'conflict' })
    await expect(c.retry('424242')).rejects.toMatchObject({ code: 'not_found' })
    c.consume('dl-conflict', () => 1)
    await c.result(id, { timeoutMs: 5_000 })
    await expect(c.retry(id)).rejects.toMatchObject({ code: 'conflict' })
  })

  it('a cancelled job can be retried too', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('dl-cancelled', 'x')
    await c.cancel(id)
    await c.retry(id)
    c.consume('dl-cancelled', () => 'ran')
    expect(await c.result(id, { timeoutMs: 5_000 })).toBe('ran')
  })

  it('redrive sends a queue dead letters back oldest first, up to limit; unknown queue is not_found', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const ids = await deadLetters(c, 'dl-redrive', 12)
    expect(await c.redrive('dl-redrive', { limit: 5 })).toEqual({ count: 5 })
    const queued = await c.listJobs('dl-redrive', { state: 'queued', limit: 100 })
    expect(queued.jobs.map((j) => j.id)).toEqual(ids.slice(0, 5).reverse())
    expect(await c.redrive('dl-redrive')).toEqual({ count: 7 })
    expect((await c.stats('dl-redrive')).queues['dl-redrive']).toMatchObject({ failed: 0, queued: 12 })
    await expect(c.redrive('dl-never-used')).rejects.toMatchObject({ code: 'not_found' })
  })

  it('purge deletes a state finished jobs at once; other states are refused', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const ids = await deadLetters(c, 'dl-purge', 6)
    expect(await c.purge('dl-purge', { state: 'failed' })).toEqual({ count: 6 })
    await expect(c.get(ids[0])).rejects.toMatchObject({ code: 'not_found' })
    expect((await c.stats('dl-purge')).queues['dl-purge'].failed).toBe(0)
    await expect(c.purge('dl-purge', { state: 'queued' as never })).rejects.toMatchObject({ code: 'bad_request' })
    await expect(c.purge('dl-nope', { state: 'failed' })).rejects.toMatchObject({ code: 'not_found' })
  })

  it('remove deletes a queued, delayed or finished job (its key is free again); an active one is a conflict', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const queued = await c.submit('dl-remove', 'q', { key: 'k1' })
    const delayed = await c.submit('dl-remove', 'd', { delayMs: 60_000 })
    const watching = collect(c.watch(queued.id), { timeoutMs: 5_000 })
    await sleep(100)
    expect(await c.remove(queued.id)).toEqual({ state: 'queued' })
    expect(await c.remove(delayed.id)).toEqual({ state: 'delayed' })
    // a result() waiting on a job that is removed ends with not_found
    const waited = await c.submit('dl-rm', 'w', { delayMs: 60_000 })
    const pending = c.result(waited.id, { timeoutMs: 5_000 })
    await waitFor(async () => (await c.get(waited.id)).state === 'delayed', 2_000, 'delayed')
    await sleep(50) // the result() watch is registered
    await c.remove(waited.id)
    await expect(pending).rejects.toMatchObject({ code: 'not_found' })
    const { items, ended } = await watching
    expect(ended).toBe(true)
    expect(items.at(-1)?.type).toBe('removed')
    await expect(c.get(queued.id)).rejects.toMatchObject({ code: 'not_found' })
    expect((await c.stats('dl-remove')).queues['dl-remove']).toMatchObject({ queued: 0, delayed: 0 })
    const again = await c.submit('dl-remove', 'q2', { key: 'k1' })
    expect(again.duplicate).toBe(false)
    const job = await c.pop('dl-remove', { timeoutMs: 2_000 })
    expect(job?.id).toBe(again.id)
    await expect(c.remove(again.id)).rejects.toMatchObject({ code: 'conflict' })
    await job!.ack('ok')
    expect(await c.remove(again.id)).toEqual({ state: 'completed' })
    await expect(c.remove(again.id)).rejects.toMatchObject({ code: 'not_found' })
  })

  it('list_jobs with bad input gets bad_request or not_found (raw protocol)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.submit('dl-raw', 1)
    const { client } = await RawClient.session(b.url)
    const cases: Array<[unknown[], string]> = [
      [['dl-raw', 'sleeping'], 'bad_request'],
      [['dl-raw', 3], 'bad_request'],
      [['dl-raw'], 'bad_request'],
      [['dl-raw', 'queued', { limit: 0 }], 'bad_request'],
      [['dl-raw', 'queued', { limit: 1001 }], 'bad_request'],
      [['dl-raw', 'queued', { cursor: -1 }], 'bad_request'],
      [['dl-raw', 'queued', { page: 2 }], 'bad_request'],
      [['dl-raw', 'queued', 'limit'], 'bad_request'],
      [['no-such-queue', 'queued'], 'not_found'],
      [['bad name!', 'queued'], 'bad_request'],
    ]
    for (const [fields, code] of cases) {
      const reply = await client.request((rid) => [Op.listJobs, rid, ...fields])
      expect(reply.slice(0, 3), JSON.stringify(fields)).toEqual([Op.error, reply[1], code])
    }
    const ok = await client.request((rid) => [Op.listJobs, rid, 'dl-raw', 'queued'])
    expect((ok[2] as { jobs: unknown[] }).jobs).toHaveLength(1)
  })
})
