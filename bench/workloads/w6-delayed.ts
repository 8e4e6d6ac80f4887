// W6 delayed burst: many jobs delayed to the same instant T, idle workers waiting. How soon after
// T do they start, how fast does the burst drain, and does any start early? Delays of one timer.

import type { SystemName } from '../adapter.js'
import { now } from '../clock.js'
import type { SubmitTiming } from '../roles/producer.js'
import type { WorkerStats } from '../roles/worker.js'
import type { WorkloadDef } from './types.js'

export const W6: WorkloadDef = {
  id: 'W6',
  group: 'W6',
  title: 'delayed burst',
  describe: (s) =>
    `${s.w6.n} jobs of ~100 B all delayed to one instant T = ${s.w6.marginMs} ms after the workers are up, just before the fill (brokerd: submitMany with runAt = T in chunks of ${s.w6.chunk}; BullMQ: addBulk with delay = T − now; beanstalkd: single puts, ≤ ${s.w6.chunk} in flight, delay = ⌈(T − now) / 1 s⌉, so due in [T, T + 1 s)), worker ${s.w6.connections} connections × ${s.w6.concurrency} connected and idle before the fill; ms from T to the first and the last job started, burst jobs/s = n / (last start − T), early = started before T − 1 ms`,
  metrics: [
    { key: 'firstMs', label: 'T→first start ms', better: 'lower', digits: 1 },
    { key: 'lastMs', label: 'T→last start ms', better: 'lower', digits: 0 },
    { key: 'jobsPerSec', label: 'burst jobs/s', better: 'higher', digits: 0 },
    { key: 'early', label: 'early', better: 'lower', digits: 0 },
    { key: 'fillJobsPerSec', label: 'fill jobs/s', better: 'higher', digits: 0 },
  ],
  // jobs/s is n / lastMs: the same ratio, so one headline line.
  headline: ['lastMs'],
  notApplicable: (system: SystemName) =>
    system === 'redis-lists' ? 'plain lists have no delayed jobs (users add a sorted set and a poller of their own)' : undefined,
  // The margin is waited out inside the cell: it comes on top of the usual limit.
  timeoutMs: (s) => s.timeoutMs + s.w6.marginMs,
  async run(cell) {
    const { n, chunk, marginMs, connections, concurrency } = cell.sizes.w6
    // Role processes boot while the service starts (nothing is timed yet).
    const worker = cell.role('worker')
    const producer = cell.role('producer')
    const svc = await cell.start()
    const t = cell.target(svc, 'w6')
    await worker.call('worker.start', { ...t, connections, concurrency, expected: n })
    // T is fixed once the workers are connected and idle, a margin ahead of the fill; the
    // cell fails (rather than measure a burst that began during the fill) if the fill ends after T.
    const at = Math.round(now() + marginMs)
    // 1 ms of tolerance: the roles' clocks (performance.timeOrigin + now()) and Date.now() differ in rounding.
    await worker.call('worker.setNotBefore', { at: at - 1 })
    const batched = cell.system !== 'beanstalkd'
    const fill = await producer.call<SubmitTiming>('producer.bulk', { ...t, n, batched, chunk, window: chunk, runAt: at })
    if (fill.lastAckAt > at) throw new Error(`the fill ended ${Math.round(fill.lastAckAt - at)} ms after T: raise marginMs`)
    let ws: WorkerStats
    try {
      // Ends before the cell's limit (which also covers the set-up), so the partial counts are reported.
      ws = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: at - now() + cell.sizes.timeoutMs * 0.75 })
    } catch (e) {
      const w = await worker.call<WorkerStats>('worker.stats')
      throw new Error(`${(e as Error).message}; started ${w.distinct}/${n}, ${w.early} early`, { cause: e })
    }
    await worker.call('worker.stop')
    return {
      firstMs: ws.firstStartAt - at,
      lastMs: ws.lastStartAt - at,
      jobsPerSec: (n / Math.max(1, ws.lastStartAt - at)) * 1000,
      early: ws.early,
      fillJobsPerSec: (n / (fill.lastAckAt - fill.firstSubmitAt)) * 1000,
      lost: n - ws.distinct,
      duplicates: ws.duplicates,
    }
  },
}
