// W4 fan-out: one job followed by many watcher connections (brokerd watch(id), Redis pub/sub,
// BullMQ QueueEvents); measures worker "ack" (handler return) → result at every watcher.

import type { SystemName } from '../adapter.js'
import { sleep } from '../clock.js'
import type { WorkerStats } from '../roles/worker.js'
import { percentile, max } from '../stats.js'
import type { WorkloadDef } from './types.js'

export const W4: WorkloadDef = {
  id: 'W4',
  group: 'W4',
  title: 'fan-out to watchers',
  describe: (s) =>
    `1 job watched by ${s.w4.watchers} connections in ${s.w4.procs} process(es) (brokerd: connect()+watch(id); redis-lists: SUBSCRIBE, worker PUBLISHes; bullmq: QueueEvents each); handler return → result at watcher, ms`,
  metrics: [
    { key: 'p50', label: 'p50 ms', better: 'lower', digits: 2 },
    { key: 'max', label: 'max (all have it) ms', better: 'lower', digits: 2 },
    { key: 'setupMs', label: 'watch setup ms', better: 'lower', digits: 0 },
  ],
  headline: ['max'],
  notApplicable: (system: SystemName) => (system === 'beanstalkd' ? 'beanstalkd has no pub/sub' : undefined),
  timeoutMs: (s) => s.timeoutMs,
  async run(cell) {
    const svc = await cell.start()
    const t = cell.target(svc, 'w4')
    const { watchers, procs } = cell.sizes.w4
    // The job exists (queued, no worker yet) before anybody watches it, as in real life.
    const id = await cell.role('producer').call<string>('producer.submitOne', t)
    const ws = Array.from({ length: procs }, (_, k) => cell.role(`watchers${k}`))
    const per = Math.ceil(watchers / procs)
    const setups = await Promise.all(
      ws.map((w, k) => w.call<{ setupMs: number }>('watcher.setup', { ...t, id, count: Math.min(per, watchers - k * per) })),
    )
    // Let every subscription settle (e.g. BullMQ's first XREAD) before the job runs.
    await sleep(500)
    const collecting = ws.map((w) => w.call<number[]>('watcher.collect', { timeoutMs: 30_000 }))
    const worker = cell.role('worker')
    await worker.call('worker.start', { ...t, connections: 1, concurrency: 1, expected: 1 })
    const st = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: 30_000 })
    const got = (await Promise.all(collecting)).flat()
    const lat = got.map((x) => x - st.lastReturnAt)
    await Promise.all([worker.call('worker.stop'), ...ws.map((w) => w.call('watcher.close'))])
    return {
      p50: percentile(lat, 50),
      max: max(lat),
      setupMs: max(setups.map((s) => s.setupMs)),
      watchers: got.length,
    }
  },
}
