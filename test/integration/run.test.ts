// run(): submit with the `watch` option (PROTOCOL.md §5) — the job's snapshot and events come back
// under the submit's rid, so "submit and wait for the result" is one round trip with no gap.

import { describe, expect, it } from 'vitest'
import { BrokerError, JobFailedError } from '../../clients/index.js'
import { connectClient, startBroker } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('run (submit and wait)', () => {
  it('resolves with the result of the job it submitted', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    c.consume('run-ok', (job) => ({ doubled: (job.payload as number) * 2 }), { concurrency: 4 })
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => c.run('run-ok', n, { timeoutMs: 5_000 })))
    expect(results).toEqual([2, 4, 6, 8, 10].map((doubled) => ({ doubled })))
  })

  it('waits for a job that no worker takes yet, then resolves when one does', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const pending = c.run('run-later', 'x', { timeoutMs: 5_000 })
    await new Promise((r) => setTimeout(r, 200))
    const w = await connectClient(b.url)
    w.consume('run-later', () => 'done')
    expect(await pending).toBe('done')
  })

  it('rejects with JobFailedError carrying the last error when the job ends failed', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    c.consume('run-fail', () => {
      throw new Error('no such address')
    })
    const err = await c.run('run-fail', 1, { maxAttempts: 2, timeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JobFailedError)
    expect((err as JobFailedError).error?.message).toBe('no such address')
  })

  it('rejects with timeout when the job does not finish in time', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const err = await c.run('run-none', 1, { timeoutMs: 300 }).catch((e: unknown) => e)
    expect((err as BrokerError).code).toBe('timeout')
  })

  it('on the wire: submitted, then a snapshot with the same rid, then the events', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    client.send([Op.submit, 7, 'run-raw', bin('p'), { watch: true }])
    const submitted = await client.waitFor((m) => m[0] === Op.submitted && m[1] === 7)
    const snapshot = await client.waitFor((m) => m[0] === Op.snapshot && m[1] === 7)
    expect((snapshot[2] as { state: string; id: number }).state).toBe('queued')
    expect((snapshot[2] as { id: number }).id).toBe(submitted[2])
    expect(client.messages.indexOf(submitted)).toBeLessThan(client.messages.indexOf(snapshot))
  })

  it('refuses a watch option that is not a boolean, and watch inside submit_many', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    const wrongType = await client.request((rid) => [Op.submit, rid, 'run-bad', bin(1), { watch: 'yes' }])
    expect(wrongType[0]).toBe(Op.error)
    expect(wrongType[2]).toBe('bad_request')
    const inBatch = await client.request((rid) => [Op.submitMany, rid, 'run-bad', [[bin(1), { watch: true }]]])
    expect(inBatch[0]).toBe(Op.error)
    expect(inBatch[2]).toBe('bad_request')
    const stats = await client.request((rid) => [Op.stats, rid, 'run-bad'])
    expect(stats[2]).toEqual({ queues: {} }) // nothing was stored by the refused requests
  })

  it('a run() that times out before its submit is answered leaves the job stored, and the client keeps working', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const err = await c.run('run-early', 'first', { timeoutMs: 0 }).catch((e: unknown) => e)
    expect((err as BrokerError).code).toBe('timeout')
    expect((err as BrokerError).message).toMatch(/did not finish within 0 ms/)
    const w = await connectClient(b.url)
    w.consume('run-early', (job) => `done ${job.payload as string}`)
    expect(await c.run('run-early', 'second', { timeoutMs: 5_000 })).toBe('done second')
    const page = await c.listJobs('run-early', { state: 'completed' })
    expect(page.jobs.length).toBe(2)
  })

  it('result() with an aborted signal rejects aborted; a later result() of the same job still resolves', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('res-abort', 7)
    const pre = new AbortController()
    pre.abort()
    expect(((await c.result(id, { signal: pre.signal }).catch((e: unknown) => e)) as BrokerError).code).toBe('aborted')
    const ac = new AbortController()
    const waiting = c.result(id, { signal: ac.signal, timeoutMs: 5_000 }).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 100))
    ac.abort()
    expect(((await waiting) as BrokerError).code).toBe('aborted')
    const w = await connectClient(b.url)
    w.consume('res-abort', (job) => (job.payload as number) * 6)
    expect(await c.result(id, { timeoutMs: 5_000 })).toBe(42)
  })

  it('result() of a job that is already finished resolves from its snapshot; of a removed one, not_found', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('res-done', 'x')
    const job = await c.pop('res-done', { timeoutMs: 2_000 })
    await job!.ack({ ok: true })
    expect(await c.result(id)).toEqual({ ok: true })
    await c.remove(id)
    expect(((await c.result(id).catch((e: unknown) => e)) as BrokerError).code).toBe('not_found')
  })
})
