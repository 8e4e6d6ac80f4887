// watch(jobId) (PROTOCOL.md §3 watch, §6 events): first the snapshot, then every transition, no
// event lost or doubled between them, ending at the terminal state; results are kept for the
// retention period and then purged.

import { describe, expect, it } from 'vitest'
import { BrokerError } from '../../clients/index.js'
import type { WatchEvent } from '../../clients/types.js'
import { collect, connectClient, gate, sleep, startBroker, waitFor } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

const brief = (evs: WatchEvent[]) => evs.map((e) => `${e.type}:${e.state}`)

/** `n` connections each watching job `id`; resolves once every one of them has its snapshot. */
async function watchFromMany(url: string, id: string, n: number): Promise<Array<Promise<{ items: WatchEvent[]; ended: boolean }>>> {
  const watchers = await Promise.all(Array.from({ length: n }, () => connectClient(url)))
  const snapshots = new Set<number>()
  const runs = watchers.map((w, i) => collect(w.watch(id), { timeoutMs: 15_000, onItem: (e) => e.type === 'snapshot' && snapshots.add(i) }))
  await waitFor(() => snapshots.size === n, 5_000, `all ${n} snapshots`)
  return runs
}

describe('watch', () => {
  it('yields the snapshot, then active, progress and completed with the result, then ends', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('w-basic', { n: 1 })
    const watching = collect(producer.watch(id), { timeoutMs: 10_000 })

    const workerConn = await connectClient(b.url)
    workerConn.consume('w-basic', async (_job, ctx) => {
      ctx.progress({ pct: 50 })
      await sleep(50)
      return { sent: true }
    })
    const { items, ended } = await watching
    expect(ended).toBe(true)
    expect(brief(items)).toEqual(['snapshot:queued', 'active:active', 'progress:active', 'completed:completed'])
    expect(items.every((e) => e.id === id)).toBe(true)
    expect(items[2].progress).toEqual({ pct: 50 })
    expect(items[3].result).toEqual({ sent: true })
    expect(items[3].attempt).toBe(1)
    expect(items[3].at).toBeGreaterThanOrEqual(items[1].at)
  })

  it('watching a job submitted on the same connection sees the queued state first (no transition missed)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    c.consume('w-fast', (job) => ({ echo: job.payload }))
    const { id } = await c.submit('w-fast', 'hi')
    const { items, ended } = await collect(c.watch(id), { timeoutMs: 10_000 })
    expect(ended).toBe(true)
    // whenever the watch started, the sequence is a suffix of the full one, starting with a snapshot
    expect(items[0].type).toBe('snapshot')
    const full = ['queued', 'active', 'completed']
    const states = items.map((e) => e.state)
    expect(full.slice(full.indexOf(states[0]))).toEqual(states)
    expect(items.at(-1)?.result).toEqual({ echo: 'hi' })
  })

  it('watching a finished job yields its final snapshot with the result at once and ends', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('w-done', null)
    const job = await c.pop('w-done', { timeoutMs: 2_000 })
    await job!.ack({ final: 1 })
    const t0 = Date.now()
    const { items, ended } = await collect(c.watch(id), { timeoutMs: 5_000 })
    expect(ended).toBe(true)
    expect(Date.now() - t0).toBeLessThan(1_000)
    expect(items).toHaveLength(1)
    expect(items[0].type).toBe('snapshot')
    expect(items[0].state).toBe('completed')
    expect(items[0].result).toEqual({ final: 1 })
  })

  it('watching an unknown job id fails with not_found (get too)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const err = await collect(c.watch('987654321'), { timeoutMs: 5_000 }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).code).toBe('not_found')
    const err2 = await c.get('987654321').then(
      () => null,
      (e: unknown) => e,
    )
    expect((err2 as BrokerError).code).toBe('not_found')
  })

  it('a job with 40 watchers (events batched per fan-out) still shows each of them every transition once, in order', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('w-wide', null)
    const runs = await watchFromMany(b.url, id, 40)
    const late: Array<Promise<{ items: WatchEvent[]; ended: boolean }>> = []
    const workerConn = await connectClient(b.url)
    workerConn.consume('w-wide', async (job, ctx) => {
      if (job.attempt === 1) throw new Error('first try fails')
      ctx.progress(1)
      // A watcher that joins while events may be held: snapshot, then only what follows it.
      late.push(collect(producer.watch(id), { timeoutMs: 15_000 }))
      await sleep(20)
      ctx.progress(2)
      return 'done'
    })
    const results = await Promise.all(runs)
    const expected = [
      'snapshot:queued',
      'active:active',
      'retrying:queued',
      'active:active',
      'progress:active',
      'progress:active',
      'completed:completed',
    ]
    for (const r of results) {
      expect(r.ended).toBe(true)
      expect(brief(r.items)).toEqual(expected)
    }
    const lateRun = await late[0]
    expect(lateRun.ended).toBe(true)
    expect(lateRun.items[0].type).toBe('snapshot')
    const after = lateRun.items.slice(1).map((e) => (e.type === 'progress' ? `progress ${String(e.progress)}` : e.type))
    // (progress 1 and the watch race between two connections.) Whatever the snapshot already showed
    // is not repeated; what came later arrives once, in order.
    expect(['progress 1,progress 2,completed', 'progress 2,completed'].includes(after.join(','))).toBe(true)
  })

  it('20 watchers on 20 connections all see the same sequence of events of one job', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('w-many', null)
    const runs = await watchFromMany(b.url, id, 20)

    const workerConn = await connectClient(b.url)
    workerConn.consume('w-many', async (job, ctx) => {
      if (job.attempt === 1) throw new Error('first try fails')
      for (let p = 1; p <= 3; p++) {
        ctx.progress(p)
        await sleep(5)
      }
      return 'done'
    })
    const results = await Promise.all(runs)
    const expected = [
      'snapshot:queued',
      'active:active',
      'retrying:queued',
      'active:active',
      'progress:active',
      'progress:active',
      'progress:active',
      'completed:completed',
    ]
    for (const r of results) {
      expect(r.ended).toBe(true)
      expect(brief(r.items)).toEqual(expected)
      expect(r.items.filter((e) => e.type === 'progress').map((e) => e.progress)).toEqual([1, 2, 3])
      expect(r.items.at(-1)?.result).toBe('done')
    }
    const first = JSON.stringify(results[0].items.slice(1))
    for (const r of results) expect(JSON.stringify(r.items.slice(1))).toBe(first)
  })

  it('a watch started mid-job sees the snapshot progress, then every later progress exactly once, in order', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const { id } = await producer.submit('w-mid', null)
    const workerConn = await connectClient(b.url)
    const half = gate()
    workerConn.consume('w-mid', async (_job, ctx) => {
      for (let p = 1; p <= 60; p++) {
        ctx.progress(p)
        if (p === 20) half.open()
        await sleep(3)
      }
      return 'end'
    })
    await half.promise
    // several watchers starting at different moments while progress keeps flowing
    const runs: Array<ReturnType<typeof collect<WatchEvent>>> = []
    for (let k = 0; k < 5; k++) {
      const w = await connectClient(b.url)
      runs.push(collect(w.watch(id), { timeoutMs: 10_000 }))
      await sleep(15)
    }
    for (const { items, ended } of await Promise.all(runs)) {
      expect(ended).toBe(true)
      expect(items[0].type).toBe('snapshot')
      const start = items[0].state === 'completed' ? 60 : ((items[0].progress as number | undefined) ?? 0)
      const later = items
        .slice(1)
        .filter((e) => e.type === 'progress')
        .map((e) => e.progress as number)
      expect(later).toEqual(Array.from({ length: 60 - start }, (_, i) => start + 1 + i))
      expect(items.at(-1)?.type === 'completed' || items[0].state === 'completed').toBe(true)
    }
  })

  it('keeps a finished job for --retention-ms, then get() and watch() answer not_found', async () => {
    const b = await startBroker({ args: ['--retention-ms', '1500'] })
    const c = await connectClient(b.url)
    const { id } = await c.submit('w-ret', null)
    const job = await c.pop('w-ret', { timeoutMs: 2_000 })
    await job!.ack({ kept: true })
    const tDone = Date.now()
    // within the retention period the result is there
    expect((await c.get(id)).result).toEqual({ kept: true })
    const { items } = await collect(c.watch(id), { timeoutMs: 2_000 })
    expect(items[0].result).toEqual({ kept: true })

    // the broker purges periodically: ask with a generous bound
    const err = await waitFor(
      async () =>
        c.get(id).then(
          () => null,
          (e: unknown) => e as BrokerError,
        ),
      30_000,
      'the finished job to be purged',
      250,
    )
    expect(err.code).toBe('not_found')
    expect(Date.now() - tDone).toBeGreaterThanOrEqual(1_400)
    const werr = await collect(c.watch(id), { timeoutMs: 5_000 }).then(
      () => null,
      (e: unknown) => e,
    )
    expect((werr as BrokerError).code).toBe('not_found')
  })

  it('a job submitted with retentionMs keeps its result that long even if the broker default is shorter', async () => {
    const b = await startBroker({ args: ['--retention-ms', '500'] })
    const c = await connectClient(b.url)
    const { id: longId } = await c.submit('w-ret2', 'long', { retentionMs: 60_000 })
    const { id: shortId } = await c.submit('w-ret2', 'short')
    for (let i = 0; i < 2; i++) await (await c.pop('w-ret2', { timeoutMs: 2_000 }))!.ack('r')
    await waitFor(
      async () =>
        c.get(shortId).then(
          () => false,
          (e: BrokerError) => e.code === 'not_found',
        ),
      30_000,
      'short job purged',
      250,
    )
    expect((await c.get(longId)).state).toBe('completed')
  })

  it('two events of one job in the same turn (nack → retrying, redelivery → active) arrive as two well-formed event messages (raw protocol)', async () => {
    const b = await startBroker()
    const { client: worker } = await RawClient.session(b.url)
    const { client: watcher } = await RawClient.session(b.url)
    const submitted = await watcher.request((rid) => [Op.submit, rid, 'w-raw', bin(1)])
    const jobId = submitted[2]
    expect((await watcher.request((rid) => [Op.watch, rid, jobId]))[0]).toBe(Op.snapshot)
    await worker.request((rid) => [Op.consume, rid, 1, ['w-raw'], 1])
    const first = await worker.waitFor((m) => m[0] === Op.deliver, 3_000, 'first delivery')
    worker.send([Op.nack, 0, first[2], first[5], bin({ message: 'x' })])
    await worker.waitFor((m) => m[0] === Op.deliver && m[5] === 2, 3_000, 'second delivery')
    await waitFor(() => watcher.messages.filter((m) => Array.isArray(m) && m[0] === Op.event).length >= 3, 3_000, '3 events')
    await sleep(100)
    const afterSnapshot = watcher.messages.slice(watcher.messages.findIndex((m) => m[0] === Op.snapshot) + 1)
    // every message is an event array; no stray scalars from a corrupted frame
    expect(
      afterSnapshot.every((m) => Array.isArray(m) && m[0] === Op.event),
      watcher.describe(),
    ).toBe(true)
    expect(afterSnapshot.map((m) => `${m[2]}:${m[3]}:${m[4]}`)).toEqual(['active:active:1', 'retrying:queued:1', 'active:active:2'])
  })
})
