// W2 concurrent clients: many connections each submit one job at a time and wait for its result.
// Shows how the system behaves with several small interactive users at once.
// W2 uses submit() then result(id) on every system; W2r uses the one-call form where there is one.

import type { WorkloadDef } from './types.js'
import { percentile } from '../stats.js'

function w2(oneCall: boolean): WorkloadDef {
  return {
    id: oneCall ? 'W2r' : 'W2',
    group: 'W2',
    title: oneCall ? 'concurrent clients, one-call run()' : 'concurrent clients',
    describe: (s) =>
      `${s.w2.clients} client connections in one process, ${s.w2.jobs} jobs in total, each client one job at a time ` +
      `(after 1 untimed warm-up job per client), ` +
      (oneCall
        ? `one call per job where the system has one (brokerd run()); peers have no one-call form: measured as in W2`
        : `submit() then result(id)`) +
      `; worker: ${s.w3.connections} connections × concurrency ${s.w3.concurrency}`,
    metrics: [
      { key: 'totalMs', label: 'total ms', better: 'lower', digits: 1 },
      { key: 'jobsPerSec', label: 'jobs/s', better: 'higher', digits: 0 },
      { key: 'p50', label: 'p50 ms', better: 'lower', digits: 3 },
      { key: 'p99', label: 'p99 ms', better: 'lower', digits: 3 },
    ],
    headline: ['jobsPerSec'],
    timeoutMs: (s) => s.timeoutMs,
    async run(cell) {
      const svc = await cell.start()
      const t = cell.target(svc, 'w2')
      const worker = cell.role('worker')
      const producer = cell.role('producer')
      const { clients, jobs } = cell.sizes.w2
      const { connections, concurrency } = cell.sizes.w3
      await worker.call('worker.start', { ...t, connections, concurrency, expected: jobs + clients })
      const r = await producer.call<{ totalMs: number; latencies: number[] }>('producer.clients', {
        ...t,
        clients,
        jobs,
        oneCall,
        timeoutMs: cell.sizes.resultTimeoutMs,
      })
      await worker.call('worker.stop')
      return {
        totalMs: r.totalMs,
        jobsPerSec: (r.latencies.length / r.totalMs) * 1000,
        p50: percentile(r.latencies, 50),
        p99: percentile(r.latencies, 99),
        jobs: r.latencies.length,
      }
    },
  }
}

export const W2 = w2(false)
export const W2r = w2(true)
