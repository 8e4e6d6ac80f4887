// W3 throughput: one producer process pushes many ~100 B jobs, a worker process drains them with
// 4 connections × 16 concurrency. End-to-end rate is first submit → last job handled, across processes.

import type { SystemName } from '../adapter.js'
import type { WorkerStats } from '../roles/worker.js'
import type { SubmitTiming } from '../roles/producer.js'
import type { WorkloadDef } from './types.js'

function w3(batched: boolean): WorkloadDef {
  return {
    id: batched ? 'W3b' : 'W3s',
    group: 'W3',
    title: batched ? 'throughput, batched submits' : 'throughput, single submits',
    describe: (s) =>
      `${s.w3.n} jobs of ~100 B, 1 producer process (` +
      (batched ? `batch submit, chunks of ${s.w3.chunk}` : `one submit per job, ≤ ${s.w3.window} in flight`) +
      `), worker process ${s.w3.connections} connections × concurrency ${s.w3.concurrency}, no-op handler; e2e = first submit → last handled`,
    metrics: [
      { key: 'e2eJobsPerSec', label: 'e2e jobs/s', better: 'higher', digits: 0 },
      { key: 'submitJobsPerSec', label: 'submit jobs/s', better: 'higher', digits: 0 },
      { key: 'p50', label: 'p50 submit→start ms', better: 'lower', digits: 1 },
      { key: 'p99', label: 'p99 submit→start ms', better: 'lower', digits: 1 },
      { key: 'duplicates', label: 'dup', better: 'lower', digits: 0 },
    ],
    headline: ['e2eJobsPerSec'],
    notApplicable: (system: SystemName) => (batched && system === 'beanstalkd' ? 'no batch put in beanstalkd' : undefined),
    timeoutMs: (s) => s.timeoutMs,
    async run(cell) {
      const svc = await cell.start()
      const t = cell.target(svc, batched ? 'w3b' : 'w3s')
      const worker = cell.role('worker')
      const producer = cell.role('producer')
      const { n, chunk, window, connections, concurrency } = cell.sizes.w3
      await worker.call('worker.start', { ...t, connections, concurrency, expected: n })
      const sub = await producer.call<SubmitTiming>('producer.bulk', { ...t, n, batched, chunk, window })
      const ws = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: cell.sizes.timeoutMs })
      await worker.call('worker.stop')
      return {
        e2eJobsPerSec: (n / (ws.lastReturnAt - sub.firstSubmitAt)) * 1000,
        submitJobsPerSec: (n / (sub.lastAckAt - sub.firstSubmitAt)) * 1000,
        p50: ws.startLatency.p50,
        p99: ws.startLatency.p99,
        duplicates: ws.duplicates,
        jobs: ws.distinct,
      }
    },
  }
}

export const W3b = w3(true)
export const W3s = w3(false)
