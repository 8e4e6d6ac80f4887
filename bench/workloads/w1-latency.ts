// W1 sequential latency: one client submits a job, waits for its result, then submits the next.
// Measures the full round trip producer → broker → worker → broker → producer, one job in the system.
// W1 uses submit() then result(id) on every system; W1r uses the one-call form where there is one.

import type { WorkloadDef } from './types.js'
import { summarize } from '../stats.js'

function w1(oneCall: boolean): WorkloadDef {
  return {
    id: oneCall ? 'W1r' : 'W1',
    group: 'W1',
    title: oneCall ? 'sequential latency, one-call run()' : 'sequential latency',
    describe: (s) =>
      `${s.w1.n} jobs one at a time (after ${s.w1.warmup} warm-up jobs), ` +
      (oneCall
        ? `one call per job where the system has one (brokerd run()); peers have no one-call form: measured as in W1`
        : `submit() then result(id) at the submitter`) +
      `; worker: 1 connection × concurrency 1, no-op handler; ms`,
    metrics: [
      { key: 'avg', label: 'avg ms', better: 'lower', digits: 3 },
      { key: 'p50', label: 'p50 ms', better: 'lower', digits: 3 },
      { key: 'p90', label: 'p90 ms', better: 'lower', digits: 3 },
      { key: 'p99', label: 'p99 ms', better: 'lower', digits: 3 },
    ],
    headline: ['p50'],
    timeoutMs: (s) => s.timeoutMs,
    async run(cell) {
      const svc = await cell.start()
      const t = cell.target(svc, 'w1')
      const worker = cell.role('worker')
      const producer = cell.role('producer')
      const { n, warmup } = cell.sizes.w1
      await worker.call('worker.start', { ...t, connections: 1, concurrency: 1, expected: n + warmup })
      const lat = await producer.call<number[]>('producer.sequential', {
        ...t,
        n,
        warmup,
        oneCall,
        timeoutMs: cell.sizes.resultTimeoutMs,
      })
      await worker.call('worker.stop')
      const s = summarize(lat)
      return { avg: s.avg, p50: s.p50, p90: s.p90, p99: s.p99, jobs: s.n }
    },
  }
}

export const W1 = w1(false)
export const W1r = w1(true)
