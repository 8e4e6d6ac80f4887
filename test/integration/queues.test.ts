// Queue limits, pause and settings (PROTOCOL.md §3 queue length limit, pause/resume, configure,
// §6a): a full queue refuses or holds submits in arrival order, a paused queue keeps accepting
// but dispatches nothing, and settings are defaults for jobs submitted afterwards.

import { execFile } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { BrokerError } from '../../clients/index.js'
import { ROOT, connectClient, gate, sleep, startBroker, waitFor } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('maxLength', () => {
  it('a full queue refuses submits with queue_full and stores nothing; submitMany is all or nothing', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const info = await c.configureQueue('ql-full', { maxLength: 3 })
    expect(info.settings).toEqual({ maxLength: 3 })
    const first = await c.submitMany('ql-full', [1, 2], { keys: ['k1', 'k2'] })
    const err = await c.submitMany('ql-full', [3, 4]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).code).toBe('queue_full')
    expect((await c.getQueue('ql-full')).queued).toBe(2)
    await c.submit('ql-full', 3)
    await expect(c.submit('ql-full', 4)).rejects.toMatchObject({ code: 'queue_full' })
    // delayed jobs count too
    await c.configureQueue('ql-full', { maxLength: 4 })
    await c.submit('ql-full', 'd', { delayMs: 60_000 })
    await expect(c.submit('ql-full', 5)).rejects.toMatchObject({ code: 'queue_full' })
    expect(await c.getQueue('ql-full')).toMatchObject({ queued: 3, delayed: 1 })
    // a duplicate (idempotency key) needs no room: answered even when full
    expect(await c.submit('ql-full', 'x', { key: 'k1' })).toEqual({ id: first.ids[0], duplicate: true })
    expect(await c.submitMany('ql-full', [1, 2], { keys: ['k2', 'k1'] })).toEqual({
      ids: [first.ids[1], first.ids[0]],
      duplicates: [true, true],
    })
    const fresh = await c.submitMany('ql-full', [1, 2], { keys: ['k1', 'k-new'] }).catch((e: unknown) => e)
    expect((fresh as BrokerError).code).toBe('queue_full')
  })

  it('with waitMs a submit waits for room and gets in as jobs leave, in arrival order', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.configureQueue('ql-wait', { maxLength: 2 })
    await c.submitMany('ql-wait', ['a', 'b'])
    const order: string[] = []
    const waiting = ['w1', 'w2', 'w3'].map((p) =>
      c.submit('ql-wait', p, { waitMs: 10_000 }).then((r) => {
        order.push(p)
        return r
      }),
    )
    await sleep(200)
    expect(order).toEqual([])
    expect((await c.getQueue('ql-wait')).waiting).toBe(3)
    const handled: string[] = []
    c.consume('ql-wait', (job) => {
      handled.push(job.payload as string)
    })
    const ids = await Promise.all(waiting)
    expect(order).toEqual(['w1', 'w2', 'w3'])
    expect(ids.every((r) => !r.duplicate)).toBe(true)
    await waitFor(() => handled.length === 5, 5_000, 'all handled')
    expect(handled).toEqual(['a', 'b', 'w1', 'w2', 'w3'])
  })

  it('a waiting submit gives up with queue_full after waitMs, having stored nothing', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.configureQueue('ql-timeout', { maxLength: 1 })
    await c.submit('ql-timeout', 1)
    const t0 = Date.now()
    await expect(c.submit('ql-timeout', 2, { waitMs: 300 })).rejects.toMatchObject({ code: 'queue_full' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290)
    expect(await c.getQueue('ql-timeout')).toMatchObject({ queued: 1, waiting: 0 })
  })

  it('raising maxLength (or clearing it) lets waiting submits in at once', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.configureQueue('ql-raise', { maxLength: 1 })
    await c.submit('ql-raise', 1)
    const p = c.submit('ql-raise', 2, { waitMs: 10_000 })
    await sleep(100)
    await c.configureQueue('ql-raise', { maxLength: null })
    await p
    expect(await c.getQueue('ql-raise')).toMatchObject({ queued: 2, settings: {} })
  })

  it('a run() with waitMs waits for room and still gets its result', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.configureQueue('ql-run', { maxLength: 1 })
    await c.submit('ql-run', 'first')
    const result = c.run('ql-run', 'second', { waitMs: 10_000, timeoutMs: 10_000 })
    await sleep(100)
    c.consume('ql-run', (job) => `done ${String(job.payload)}`)
    expect(await result).toBe('done second')
  })
})

describe('pause and resume', () => {
  it('a paused queue accepts submits and dispatches nothing; resume dispatches at once', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const handled: string[] = []
    c.consume('qp-q', (job) => {
      handled.push(job.payload as string)
    })
    expect((await c.pause('qp-q')).paused).toBe(true)
    expect((await c.pause('qp-q')).paused).toBe(true) // idempotent
    const { id } = await c.submit('qp-q', 'held')
    await sleep(300)
    expect(handled).toEqual([])
    expect(await c.getQueue('qp-q')).toMatchObject({ paused: true, queued: 1, consumers: 1 })
    expect((await c.resume('qp-q')).paused).toBe(false)
    await c.result(id, { timeoutMs: 5_000 })
    expect(handled).toEqual(['held'])
  })

  it('a consumer of [paused, other] is served from the other queue meanwhile', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.pause('qp-first')
    await c.submit('qp-first', 'first')
    const other = await c.submit('qp-other', 'other')
    const handled: string[] = []
    c.consume(['qp-first', 'qp-other'], (job) => {
      handled.push(job.payload as string)
    })
    await c.result(other.id, { timeoutMs: 5_000 })
    expect(handled).toEqual(['other'])
    await c.resume('qp-first')
    await waitFor(() => handled.length === 2, 5_000, 'first handled after resume')
  })
})

describe('queue settings', () => {
  it('settings are defaults for jobs submitted afterwards; a job option wins; get and stats show them', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const before = await c.submit('qs-q', 'before')
    const info = await c.configureQueue('qs-q', { maxAttempts: 7, backoff: { type: 'fixed', delayMs: 50 }, retentionMs: 120_000 })
    expect(info.settings).toEqual({ maxAttempts: 7, backoff: { type: 'fixed', delayMs: 50 }, retentionMs: 120_000 })
    const after = await c.submit('qs-q', 'after')
    const own = await c.submit('qs-q', 'own', { maxAttempts: 2 })
    expect((await c.get(before.id)).maxAttempts).toBe(3)
    expect((await c.get(after.id)).maxAttempts).toBe(7)
    expect((await c.get(own.id)).maxAttempts).toBe(2)
    expect((await c.stats('qs-q')).queues['qs-q'].settings).toEqual(info.settings)
    // the queue's backoff applies: a failed delivery of `after` is delayed, not queued
    await c.cancel(before.id)
    const job = await c.pop('qs-q', { timeoutMs: 2_000 })
    expect(job?.id).toBe(after.id)
    await job!.nack(new Error('x'))
    expect((await c.get(after.id)).state).toBe('delayed')
    // nil resets one key, the others stay
    expect((await c.configureQueue('qs-q', { backoff: null })).settings).toEqual({ maxAttempts: 7, retentionMs: 120_000 })
  })

  it('getQueue of an unknown queue is not_found; bad settings get bad_request and change nothing', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await expect(c.getQueue('qs-none')).rejects.toMatchObject({ code: 'not_found' })
    await c.configureQueue('qs-bad', { maxLength: 5 })
    const { client } = await RawClient.session(b.url)
    const bad: unknown[] = [
      { maxLength: 0 },
      { maxLength: -3 },
      { maxLength: '10' },
      { maxAttempts: 1001 },
      { leaseMs: 10 },
      { retentionMs: 1.5 },
      { backoff: { type: 'fixed' } },
      { priority: 3 },
      'maxLength',
      null,
      [1],
    ]
    for (const settings of bad) {
      const reply = await client.request((rid) => [Op.configure, rid, 'qs-bad', settings])
      expect(reply.slice(0, 3), JSON.stringify(settings)).toEqual([Op.error, reply[1], 'bad_request'])
    }
    for (const op of [Op.pause, Op.resume, Op.getQueue, Op.redrive]) {
      const reply = await client.request((rid) => [op, rid, 42])
      expect(reply.slice(0, 3)).toEqual([Op.error, reply[1], 'bad_request'])
    }
    expect((await c.getQueue('qs-bad')).settings).toEqual({ maxLength: 5 })
    expect((await client.request((rid) => [Op.submit, rid, 'qs-bad', bin('still works')]))[0]).toBe(Op.submitted)
  })

  it('waitMs out of range gets bad_request', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await expect(c.submit('qs-wait', 1, { waitMs: 3_600_001 })).rejects.toMatchObject({ code: 'bad_request' })
    await expect(c.submit('qs-wait', 1, { waitMs: -1 })).rejects.toMatchObject({ code: 'bad_request' })
  })

  it('a worker that is idle while its queue is paused still drains after resume (gate)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.pause('qs-gate')
    const { ids } = await c.submitMany('qs-gate', [1, 2, 3, 4])
    const g = gate()
    let running = 0
    let maxRunning = 0
    c.consume(
      'qs-gate',
      async () => {
        running++
        maxRunning = Math.max(maxRunning, running)
        await g.promise
        running--
      },
      { concurrency: 2 },
    )
    await sleep(100)
    expect(maxRunning).toBe(0)
    await c.resume('qs-gate')
    await waitFor(() => running === 2, 5_000, 'two running')
    g.open()
    for (const id of ids) await c.result(id, { timeoutMs: 5_000 })
    expect(maxRunning).toBe(2)
  })
})

describe('brokerd queue (command line)', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli.js'), 'queue', ...args], { timeout: 15_000 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      )
    })

  it('sets, reads, pauses and resumes a queue of a running broker; bad flags exit 1 with a message', async () => {
    const b = await startBroker()
    const set = await run([
      'set',
      'cli-q',
      '--url',
      b.url,
      '--max-length',
      '50',
      '--max-attempts',
      '4',
      '--backoff',
      'exponential:500:8000',
    ])
    expect(set.code).toBe(0)
    expect(JSON.parse(set.stdout)).toMatchObject({
      name: 'cli-q',
      settings: { maxLength: 50, maxAttempts: 4, backoff: { type: 'exponential', delayMs: 500, maxDelayMs: 8000 } },
    })
    expect(JSON.parse((await run(['pause', 'cli-q', '--url', b.url])).stdout).paused).toBe(true)
    const c = await connectClient(b.url)
    expect(await c.getQueue('cli-q')).toMatchObject({ paused: true, settings: { maxLength: 50 } })
    expect(JSON.parse((await run(['resume', 'cli-q', '--url', b.url])).stdout).paused).toBe(false)
    const reset = await run(['set', 'cli-q', '--url', b.url, '--max-length', 'none'])
    expect(JSON.parse(reset.stdout).settings).toEqual({ maxAttempts: 4, backoff: { type: 'exponential', delayMs: 500, maxDelayMs: 8000 } })
    const missing = await run(['get', 'cli-none', '--url', b.url])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('not_found')
    const bad = await run(['set', 'cli-q', '--url', b.url, '--backoff', 'linear:5'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('--backoff')
    expect((await run(['set', 'cli-q', '--url', b.url])).code).toBe(1)
    // garbage values, and settings flags on a read: exit 1 with a message, nothing changed
    const garbage = await run(['set', 'cli-q', '--url', b.url, '--max-length', '12abc'])
    expect([garbage.code, garbage.stderr.includes('--max-length')]).toEqual([1, true])
    const badMax = await run(['set', 'cli-q', '--url', b.url, '--backoff', 'exponential:500:soon'])
    expect(badMax.code).toBe(1)
    expect(badMax.stderr).toContain('--backoff')
    expect((await run(['get', 'cli-q', '--url', b.url, '--max-attempts', '3'])).code).toBe(1)
    expect((await c.getQueue('cli-q')).settings).toEqual({
      maxAttempts: 4,
      backoff: { type: 'exponential', delayMs: 500, maxDelayMs: 8000 },
    })
  })
})
