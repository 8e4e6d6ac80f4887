// W7 delayed backlog: a million jobs delayed an hour. Broker memory with nobody consuming, then
// kill -9 and restart on the same data: how long until it serves, and are they all still delayed?

import type { SystemName } from '../adapter.js'
import { now, sleep } from '../clock.js'
import type { SubmitTiming } from '../roles/producer.js'
import { rssBytes } from '../services.js'
import type { WorkloadDef } from './types.js'

/** Why W7 skips a system: BullMQ as in W5 (filling takes minutes), plain lists have no delays. */
const SKIPPED: Partial<Record<SystemName, string>> = {
  bullmq: 'not run (as W5: a million addBulk jobs take minutes to fill)',
  'redis-lists': 'plain lists have no delayed jobs',
}

export const W7: WorkloadDef = {
  id: 'W7',
  group: 'W7',
  title: 'delayed backlog and recovery',
  describe: (s) =>
    `${s.w7.n} jobs of ~100 B delayed by 1 h (brokerd: submitMany with runAt in chunks of ${s.w7.chunk}; beanstalkd: single puts with delay 3600 s, ≤ ${s.w7.chunk} in flight), RSS with no worker, kill -9, restart on the same data (ready = brokerd "listening" / beanstalkd stats-tube), then lost = n − delayed count after the restart (brokerd stats(queue).delayed, beanstalkd current-jobs-delayed)`,
  metrics: [
    { key: 'fillJobsPerSec', label: 'fill jobs/s', better: 'higher', digits: 0 },
    { key: 'rssMB', label: 'RSS MB', better: 'lower', digits: 0 },
    { key: 'restartMs', label: 'restart ms', better: 'lower', digits: 0 },
    { key: 'lost', label: 'lost', better: 'lower', digits: 0 },
  ],
  headline: ['restartMs', 'rssMB'],
  notApplicable: (system) => SKIPPED[system],
  timeoutMs: (s) => s.w5TimeoutMs,
  async run(cell) {
    const queue = 'w7'
    const { n, chunk } = cell.sizes.w7
    const producer = cell.role('producer') // boots while the service starts
    const svc = await cell.start()
    const runAt = Math.round(now() + 3_600_000)
    const fill = await producer.call<SubmitTiming>('producer.bulk', {
      ...cell.target(svc, queue),
      n,
      batched: cell.system !== 'beanstalkd',
      chunk,
      window: chunk,
      runAt,
    })
    await sleep(cell.sizes.settleMs) // as W5: RSS not caught mid-burst, periodic flushes done
    const rss = rssBytes(svc.pid)
    const again = await cell.crashAndRestart(svc, queue)
    // Counted after "ready" (outside the timing), as W5 does for brokerd.
    const delayed = await producer.call<number | undefined>('producer.delayed', cell.target(again, queue))
    if (delayed === undefined) throw new Error(`${cell.system} reports no delayed count`)
    return {
      fillJobsPerSec: (n / (fill.lastAckAt - fill.firstSubmitAt)) * 1000,
      rssMB: rss / 1024 / 1024,
      restartMs: again.startMs,
      lost: n - delayed,
      delayed,
    }
  },
}
