// W8 priorities, a 50/50 mix of two levels at W3's load: (t) throughput while the producer submits
// and the workers drain at once, against a plain W3b pass in the same cell; (o) order: the queue
// is filled first, then drained, and each connection's low-before-high receipts are counted.

import type { SystemName } from '../adapter.js'
import type { Cell } from '../cell.js'
import type { SubmitTiming } from '../roles/producer.js'
import type { WorkerStats } from '../roles/worker.js'
import type { WorkloadDef } from './types.js'
import { drain } from './drain.js'

const levels =
  'even payload index high, odd low (brokerd priority 10 / 0; BullMQ priority 1 / 2; beanstalkd pri 0 / 1024; Redis lists: two lists, BRPOP high low)'

/** One W3b pass, mixed or plain (fresh service, fresh role processes, both stopped after it). */
async function throughputPass(cell: Cell, mixed: boolean) {
  // Role processes boot while the service starts (nothing is timed yet).
  const worker = cell.role(mixed ? 'worker' : 'worker-plain')
  const producer = cell.role(mixed ? 'producer' : 'producer-plain')
  const { n, chunk, window } = cell.sizes.w3
  const r = await drain(
    cell,
    'w8t',
    n,
    'producer.bulk',
    { batched: true, chunk, window, mixedPriority: mixed },
    {
      worker,
      producer,
      workerArgs: { priorities: mixed },
      waitTimeoutMs: cell.sizes.timeoutMs * 0.4,
    },
  )
  await cell.release(r.svc, worker, producer)
  return { ws: r.ws, e2eJobsPerSec: r.e2eJobsPerSec, lost: n - r.ws.distinct }
}

export const W8t: WorkloadDef = {
  id: 'W8t',
  group: 'W8',
  title: 'priorities, throughput',
  describe: (s) =>
    `W3b with two priorities: ${s.w3.n} jobs, ${levels}; batch submits in chunks of ${s.w3.chunk} while ${s.w3.connections} × ${s.w3.concurrency} consume; ÷ plain = e2e jobs/s over that of a plain W3b pass (one priority) run in the same cell just before, on a fresh service`,
  metrics: [
    { key: 'e2eJobsPerSec', label: 'e2e jobs/s', better: 'higher', digits: 0 },
    { key: 'plainJobsPerSec', label: 'plain e2e jobs/s', better: 'higher', digits: 0 },
    { key: 'vsPlain', label: '÷ plain', better: 'higher', digits: 2 },
    { key: 'highP50', label: 'p50 high ms', better: 'lower', digits: 1 },
    { key: 'lowP50', label: 'p50 low ms', better: 'lower', digits: 1 },
  ],
  headline: ['e2eJobsPerSec'],
  notApplicable: (system: SystemName) =>
    system === 'beanstalkd' ? 'no batch put in beanstalkd (as W3b; W8o has its pri order)' : undefined,
  // Two W3b passes, each waiting at most 0.4 × the limit for its jobs.
  timeoutMs: (s) => s.timeoutMs,
  async run(cell) {
    const plain = await throughputPass(cell, false)
    const mixed = await throughputPass(cell, true)
    return {
      e2eJobsPerSec: mixed.e2eJobsPerSec,
      plainJobsPerSec: plain.e2eJobsPerSec,
      vsPlain: mixed.e2eJobsPerSec / plain.e2eJobsPerSec,
      highP50: mixed.ws.highLatency?.p50 ?? NaN,
      lowP50: mixed.ws.lowLatency?.p50 ?? NaN,
      lost: plain.lost + mixed.lost,
      duplicates: plain.ws.duplicates + mixed.ws.duplicates,
    }
  },
}

export const W8o: WorkloadDef = {
  id: 'W8o',
  group: 'W8',
  title: 'priorities, order',
  describe: (s) =>
    `${s.w3.n} jobs queued first (${levels}; batch submits, beanstalkd single puts), then drained by ${s.w3.connections} × ${s.w3.concurrency}; inversions = per consumer connection, low jobs received before its last high one (brokerd: one socket, exact; peers: 16 sockets per connection)`,
  metrics: [
    { key: 'drainJobsPerSec', label: 'drain jobs/s', better: 'higher', digits: 0 },
    { key: 'inversions', label: 'inversions', better: 'lower', digits: 0 },
  ],
  headline: ['drainJobsPerSec'],
  timeoutMs: (s) => s.timeoutMs,
  async run(cell) {
    const worker = cell.role('worker') // role processes boot while the service starts
    const producer = cell.role('producer')
    const svc = await cell.start()
    const t = cell.target(svc, 'w8o')
    const { n, chunk, window, connections, concurrency } = cell.sizes.w3
    await producer.call<SubmitTiming>('producer.bulk', {
      ...t,
      n,
      batched: cell.system !== 'beanstalkd',
      chunk,
      window,
      mixedPriority: true,
    })
    await worker.call('worker.start', { ...t, connections, concurrency, expected: n, priorities: true })
    const ws = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: cell.sizes.timeoutMs })
    await worker.call('worker.stop')
    return {
      drainJobsPerSec: (n / (ws.lastReturnAt - ws.firstStartAt)) * 1000,
      inversions: ws.inversions,
      lost: n - ws.distinct,
      duplicates: ws.duplicates,
    }
  },
}
