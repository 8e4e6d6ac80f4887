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
    `${s.w6.n} jobs of ~100 B all delayed to one instant T = ${s.w6.marginMs} ms after the first submit (batch submits in chunks of ${s.w6.chunk}; BullMQ: addBulk with delay = T − now), worker ${s.w6.connections} connections × ${s.w6.concurrency} idle until T; ms from T to the first and the last job started`,
  metrics: [
    { key: 'firstMs', label: 'T→first start ms', better: 'lower', digits: 1 },
    { key: 'lastMs', label: 'T→last start ms', better: 'lower', digits: 0 },
    { key: 'jobsPerSec', label: 'burst jobs/s', better: 'higher', digits: 0 },
    { key: 'early', label: 'early', better: 'lower', digits: 0 },
    { key: 'fillJobsPerSec', label: 'fill jobs/s', better: 'higher', digits: 0 },
  ],
  headline: ['lastMs', 'jobsPerSec'],
  notApplicable: (system: SystemName) =>
    system === 'redis-lists'
      ? 'plain lists have no delayed jobs'
      : system === 'beanstalkd'
        ? 'delays are whole seconds counted from each put: no common instant'
        : undefined,
  timeoutMs: (s) => s.timeoutMs,
  async run(cell) {
    const { n, chunk, marginMs, connections, concurrency } = cell.sizes.w6
    const svc = await cell.start()
    const t = cell.target(svc, 'w6')
    const worker = cell.role('worker')
    const producer = cell.role('producer')
    const at = Math.round(now() + marginMs)
    // 1 ms of tolerance: the roles' clocks (performance.timeOrigin + now()) and Date.now() differ in rounding.
    await worker.call('worker.start', { ...t, connections, concurrency, expected: n, notBefore: at - 1 })
    const fill = await producer.call<SubmitTiming>('producer.bulk', { ...t, n, batched: true, chunk, window: chunk, runAt: at })
    if (fill.lastAckAt > at) throw new Error(`the fill ended ${Math.round(fill.lastAckAt - at)} ms after T: raise marginMs`)
    const ws = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: cell.sizes.timeoutMs })
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
