// Daemon lifecycle and submit semantics: graceful stop (SIGTERM/SIGINT exit 0, nothing lost),
// idempotency keys, submit_many, and job ids across connections.

import { describe, expect, it } from 'vitest'
import { connectClient, sleep, startBroker, waitFor } from '../helpers/broker.js'

describe('lifecycle', () => {
  it('starts on port 0 and reports the port it listens on; a client can connect and ping', async () => {
    const b = await startBroker()
    expect(b.port).toBeGreaterThan(0)
    const c = await connectClient(b.url)
    await c.ping()
    expect(b.alive).toBe(true)
  })

  it('SIGTERM under load exits 0 and loses no confirmed job: after restart every one completes', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const producer = await connectClient(b.url)
    const workerConn = await connectClient(b.url)
    const { ids } = await producer.submitMany(
      'lc-stop',
      Array.from({ length: 500 }, (_, i) => i),
    )
    let handledBefore = 0
    workerConn.consume(
      'lc-stop',
      async () => {
        await sleep(20)
        handledBefore++
        return 'before'
      },
      { concurrency: 4 },
    )
    await waitFor(() => handledBefore >= 20, 10_000, 'some jobs handled')
    const code = await b.stop('SIGTERM')
    expect(code).toBe(0)
    await Promise.all([producer.close(), workerConn.close()]).catch(() => {})

    const b2 = await b.restart()
    const c = await connectClient(b2.url)
    c.consume('lc-stop', () => 'after', { concurrency: 16 })
    for (const id of ids) {
      const r = await c.result(id, { timeoutMs: 10_000 })
      expect(['before', 'after']).toContain(r)
    }
    expect(await b2.stop('SIGINT')).toBe(0)
  })

  it('SIGTERM of an idle broker exits 0 promptly', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.submit('lc-idle', 1)
    const t0 = Date.now()
    expect(await b.stop('SIGTERM')).toBe(0)
    expect(Date.now() - t0).toBeLessThan(5_000)
  })

  it('submitting twice with the same idempotency key returns the same id with duplicate = true', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const first = await c.submit('lc-key', { v: 1 }, { key: 'order-42' })
    const second = await c.submit('lc-key', { v: 2 }, { key: 'order-42' })
    expect(first.duplicate).toBe(false)
    expect(second).toEqual({ id: first.id, duplicate: true })
    // one job only, with the first payload
    const job = await c.pop('lc-key', { timeoutMs: 1_000 })
    expect(job?.payload).toEqual({ v: 1 })
    expect(await c.pop('lc-key', { timeoutMs: 100 })).toBeNull()
    await job!.ack('ok')
    // still de-duplicated once finished (while retained), from another connection too
    const other = await connectClient(b.url)
    expect(await other.submit('lc-key', { v: 3 }, { key: 'order-42' })).toEqual({ id: first.id, duplicate: true })
    // the key is per queue
    const elsewhere = await c.submit('lc-key-other', { v: 4 }, { key: 'order-42' })
    expect(elsewhere.duplicate).toBe(false)
    expect(elsewhere.id).not.toBe(first.id)
  })

  it('the idempotency key survives a restart', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const first = await c.submit('lc-key2', 'a', { key: 'k' })
    await b.kill9()
    await c.close()
    const b2 = await b.restart()
    const c2 = await connectClient(b2.url)
    expect(await c2.submit('lc-key2', 'b', { key: 'k' })).toEqual({ id: first.id, duplicate: true })
  })

  it('submitMany returns one distinct id per payload, in order, and concurrent submits on one connection get distinct ids', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { ids } = await c.submitMany('lc-many', ['a', 'b', 'c', 'd'])
    expect(ids).toHaveLength(4)
    expect(new Set(ids).size).toBe(4)
    for (let i = 0; i < 4; i++) expect((await c.pop('lc-many', { timeoutMs: 1_000 }))?.id).toBe(ids[i])
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => c.submit('lc-many2', i)))
    expect(new Set(many.map((m) => m.id)).size).toBe(100)
  })

  it('job ids keep growing across a restart (no id is reused)', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { ids } = await c.submitMany('lc-ids', [1, 2, 3])
    await b.stop()
    await c.close()
    const b2 = await b.restart()
    const c2 = await connectClient(b2.url)
    const { id } = await c2.submit('lc-ids', 4)
    expect(Number(id)).toBeGreaterThan(Math.max(...ids.map(Number)))
  })

  it('stats count queued, active, consumers and completed per queue', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    await c.submitMany('lc-stats', [1, 2, 3])
    const popped = await c.pop('lc-stats', { timeoutMs: 1_000 })
    await popped!.ack('x')
    const held = await c.pop('lc-stats', { timeoutMs: 1_000 })
    expect(held).not.toBeNull()
    const s = (await c.stats('lc-stats')).queues['lc-stats']
    expect(s).toMatchObject({ queued: 1, active: 1, completed: 1, failed: 0 })
  })
})
