// stats (PROTOCOL.md §3): queued / active / consumers now, completed / failed among retained jobs.
// The counts are kept in memory (no table scan per call), so they must survive a restart and
// follow the retention purge.

import { describe, expect, it } from 'vitest'
import { connectClient, startBroker, waitFor } from '../helpers/broker.js'

describe('stats', () => {
  it('counts completed and failed jobs, keeps the counts across a restart, and drops them after purge', async () => {
    const b = await startBroker({ args: ['--retention-ms', '3000'] })
    const c = await connectClient(b.url)
    c.consume(
      'st',
      (job) => {
        if (job.payload === 'bad') throw new Error('bad')
        return 'ok'
      },
      { concurrency: 4 },
    )
    const runs = ['a', 'b', 'c', 'bad'].map((p) => c.run('st', p, { maxAttempts: 1, timeoutMs: 5_000 }).catch(() => 'failed'))
    expect(await Promise.all(runs)).toEqual(['ok', 'ok', 'ok', 'failed'])
    expect((await c.stats('st')).queues.st).toMatchObject({ queued: 0, active: 0, consumers: 1, completed: 3, failed: 1 })

    await b.kill9()
    const b2 = await b.restart()
    const c2 = await connectClient(b2.url)
    const after = (await c2.stats()).queues.st
    // Purge may already have begun if the restart was slow; otherwise the counts are unchanged.
    expect(after.completed + after.failed).toBeLessThanOrEqual(4)
    if (after.completed + after.failed === 4) expect(after).toMatchObject({ completed: 3, failed: 1, consumers: 0 })
    await waitFor(
      async () => {
        const q = (await c2.stats('st')).queues.st
        return q.completed === 0 && q.failed === 0
      },
      10_000,
      'retention purge to reach the counts',
    )
  })

  it('an unknown queue is simply absent', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    expect((await c.stats('nope')).queues).toEqual({})
  })
})
