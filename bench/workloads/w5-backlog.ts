// W5 backlog and recovery: a million queued jobs, the broker's memory with nobody consuming,
// kill -9, restart on the same data, time until it serves the whole backlog, then drain rate.

import type { SystemName } from '../adapter.js'
import { sleep } from '../clock.js'
import type { SubmitTiming } from '../roles/producer.js'
import type { WorkerStats } from '../roles/worker.js'
import { rssBytes } from '../services.js'
import type { WorkloadDef } from './types.js'

/** Systems W5 runs on by default; bullmq is left out (a million addBulk jobs take minutes). */
export const W5_SYSTEMS: SystemName[] = ['brokerd-normal', 'brokerd-strict', 'redis-lists', 'beanstalkd']

export const W5: WorkloadDef = {
  id: 'W5',
  group: 'W5',
  title: 'backlog and recovery',
  describe: (s) =>
    `${s.w5.n} queued jobs of ~100 B (batch submit in chunks of ${s.w5.chunk}; beanstalkd: single puts, ≤ ${s.w5.chunk} in flight), RSS with no worker, kill -9, restart on the same data (ready = brokerd "listening" / Redis PING+LLEN / beanstalkd stats-tube), then drain with ${s.w5.connections} × ${s.w5.concurrency}`,
  metrics: [
    { key: 'fillJobsPerSec', label: 'fill jobs/s', better: 'higher', digits: 0 },
    { key: 'rssMB', label: 'RSS MB', better: 'lower', digits: 0 },
    { key: 'restartMs', label: 'restart ms', better: 'lower', digits: 0 },
    { key: 'drainJobsPerSec', label: 'drain jobs/s', better: 'higher', digits: 0 },
    { key: 'lost', label: 'lost', better: 'lower', digits: 0 },
  ],
  headline: ['drainJobsPerSec', 'restartMs', 'rssMB'],
  notApplicable: (system) => (W5_SYSTEMS.includes(system) ? undefined : 'not run (too slow to fill a million jobs)'),
  timeoutMs: (s) => s.w5TimeoutMs,
  async run(cell) {
    const queue = 'w5'
    const { n, chunk, connections, concurrency } = cell.sizes.w5
    const svc = await cell.start()
    const producer = cell.role('producer')
    const batched = cell.system !== 'beanstalkd'
    const fill = await producer.call<SubmitTiming>('producer.bulk', { ...cell.target(svc, queue), n, batched, chunk, window: chunk })
    // A second of quiet so RSS is not caught mid-burst (allocator, GC) and every system's periodic
    // flush (Redis everysec, beanstalkd 50 ms fsync) has happened before the crash (--quick: 250 ms).
    await sleep(cell.sizes.settleMs)
    const rss = rssBytes(svc.pid)

    const again = await cell.crashAndRestart(svc, queue)
    // brokerd is "ready" at its listening line; ask it how many jobs it found (outside the timing).
    const recovered = again.recovered ?? (await producer.call<number | undefined>('producer.queued', cell.target(again, queue)))
    if (recovered !== undefined && recovered !== n) cell.notes.push(`after restart ${recovered} of ${n} jobs were queued`)

    const worker = cell.role('worker')
    await worker.call('worker.start', { ...cell.target(again, queue), connections, concurrency, expected: n })
    let st: WorkerStats
    try {
      st = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: cell.sizes.w5TimeoutMs, count: recovered })
    } catch (e) {
      const w = await worker.call<WorkerStats>('worker.stats')
      throw new Error(`${(e as Error).message}; handled ${w.distinct}/${n}`, { cause: e })
    }
    await worker.call('worker.stop')
    return {
      fillJobsPerSec: (n / (fill.lastAckAt - fill.firstSubmitAt)) * 1000,
      rssMB: rss / 1024 / 1024,
      restartMs: again.startMs,
      drainJobsPerSec: (n / (st.lastReturnAt - st.firstStartAt)) * 1000,
      lost: n - st.distinct,
      recovered: recovered ?? NaN,
      duplicates: st.duplicates,
    }
  },
}
