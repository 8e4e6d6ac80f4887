// W3 throughput: one producer process pushes many ~100 B jobs, a worker process drains them with
// 4 connections × 16 concurrency. End-to-end rate is first submit → last job handled, across processes.

import type { SystemName } from '../adapter.js'
import type { SerialTiming } from '../roles/producer.js'
import type { WorkloadDef } from './types.js'
import { drain } from './drain.js'

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
      const { n, chunk, window } = cell.sizes.w3
      const r = await drain(cell, batched ? 'w3b' : 'w3s', n, 'producer.bulk', { batched, chunk, window })
      return {
        e2eJobsPerSec: r.e2eJobsPerSec,
        submitJobsPerSec: r.submitJobsPerSec,
        p50: r.ws.startLatency.p50,
        p99: r.ws.startLatency.p99,
        duplicates: r.ws.duplicates,
        jobs: r.ws.distinct,
      }
    },
  }
}

export const W3b = w3(true)
export const W3s = w3(false)

/** The naive loop: `await submit()` per job, one in flight, while the worker drains as in W3b/W3s. */
export const W3a: WorkloadDef = {
  id: 'W3a',
  group: 'W3',
  title: 'throughput, one awaited submit at a time',
  describe: (s) =>
    `${s.w3.serialN} jobs of ~100 B, 1 producer process awaiting each submit() before the next (one in flight: the loop an API handler writes), ` +
    `worker process ${s.w3.connections} connections × concurrency ${s.w3.concurrency}, no-op handler; e2e = first submit → last handled; ` +
    `submit ms = one submit() round trip at the producer`,
  metrics: [
    { key: 'e2eJobsPerSec', label: 'e2e jobs/s', better: 'higher', digits: 0 },
    { key: 'submitJobsPerSec', label: 'submit jobs/s', better: 'higher', digits: 0 },
    { key: 'submitP50', label: 'p50 submit ms', better: 'lower', digits: 3 },
    { key: 'submitP99', label: 'p99 submit ms', better: 'lower', digits: 3 },
    { key: 'p50', label: 'p50 submit→start ms', better: 'lower', digits: 2 },
    { key: 'duplicates', label: 'dup', better: 'lower', digits: 0 },
  ],
  headline: ['e2eJobsPerSec'],
  timeoutMs: (s) => s.timeoutMs,
  async run(cell) {
    const r = await drain<SerialTiming>(cell, 'w3a', cell.sizes.w3.serialN, 'producer.serial', {})
    return {
      e2eJobsPerSec: r.e2eJobsPerSec,
      submitJobsPerSec: r.submitJobsPerSec,
      submitP50: r.sub.submit.p50,
      submitP99: r.sub.submit.p99,
      p50: r.ws.startLatency.p50,
      duplicates: r.ws.duplicates,
      jobs: r.ws.distinct,
    }
  },
}
