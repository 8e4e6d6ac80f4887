// W7 delayed backlog: a million jobs delayed an hour. Broker memory with nobody consuming, then
// kill -9 and restart on the same data: how long until it serves, and are they all still delayed?

import type { SystemName } from '../adapter.js'
import { now, sleep } from '../clock.js'
import type { SubmitTiming } from '../roles/producer.js'
import { rssBytes } from '../services.js'
import type { WorkloadDef } from './types.js'

export const W7: WorkloadDef = {
  id: 'W7',
  group: 'W7',
  title: 'delayed backlog and recovery',
  describe: (s) =>
    `${s.w7.n} jobs of ~100 B delayed by 1 h (batch submit in chunks of ${s.w7.chunk}), RSS with no worker, kill -9, restart on the same data (ready = "listening"), then stats: all still delayed?`,
  metrics: [
    { key: 'fillJobsPerSec', label: 'fill jobs/s', better: 'higher', digits: 0 },
    { key: 'rssMB', label: 'RSS MB', better: 'lower', digits: 0 },
    { key: 'restartMs', label: 'restart ms', better: 'lower', digits: 0 },
    { key: 'lost', label: 'lost', better: 'lower', digits: 0 },
  ],
  headline: [],
  notApplicable: (system: SystemName) =>
    system.startsWith('brokerd') ? undefined : 'brokerd only (W5 compares backlogs with peers; plain lists have no delays)',
  timeoutMs: (s) => s.w5TimeoutMs,
  async run(cell) {
    const queue = 'w7'
    const { n, chunk } = cell.sizes.w7
    const svc = await cell.start()
    const producer = cell.role('producer')
    const runAt = Math.round(now() + 3_600_000)
    const fill = await producer.call<SubmitTiming>('producer.bulk', {
      ...cell.target(svc, queue),
      n,
      batched: true,
      chunk,
      window: chunk,
      runAt,
    })
    await sleep(1000) // as W5: RSS not caught mid-burst
    const rss = rssBytes(svc.pid)
    const again = await cell.crashAndRestart(svc, queue)
    const delayed = await producer.call<number | undefined>('producer.delayed', cell.target(again, queue))
    return {
      fillJobsPerSec: (n / (fill.lastAckAt - fill.firstSubmitAt)) * 1000,
      rssMB: rss / 1024 / 1024,
      restartMs: again.startMs,
      lost: n - (delayed ?? 0),
    }
  },
}
