// The W3-shaped run shared by W3b, W3s, W3a and W8t's two passes: a worker process drains while
// a producer process submits. The worker is up before the first submit, so e2e includes no start-up.

import type { Cell } from '../cell.js'
import type { RoleProc } from '../proc.js'
import type { Service } from '../services.js'
import type { SubmitTiming } from '../roles/producer.js'
import type { WorkerStats } from '../roles/worker.js'

export interface DrainOptions {
  /** Role processes started earlier (their boot overlapped the service's); default: new ones. */
  worker?: RoleProc
  producer?: RoleProc
  /** More `worker.start` arguments (W8: `priorities`). */
  workerArgs?: object
  /** How long to wait for the worker to have handled all `n`; default the cell's timeout. */
  waitTimeoutMs?: number
}

/**
 * Starts the service and the worker process, runs the producer's part (`method` with `args`),
 * then waits until the worker has handled all `n` jobs.
 */
export async function drain<T extends SubmitTiming>(
  cell: Cell,
  queue: string,
  n: number,
  method: string,
  args: object,
  o: DrainOptions = {},
): Promise<{ svc: Service; sub: T; ws: WorkerStats; e2eJobsPerSec: number; submitJobsPerSec: number }> {
  const svc = await cell.start()
  const t = cell.target(svc, queue)
  const worker = o.worker ?? cell.role('worker')
  const producer = o.producer ?? cell.role('producer')
  const { connections, concurrency } = cell.sizes.w3
  await worker.call('worker.start', { ...t, connections, concurrency, expected: n, ...o.workerArgs })
  const sub = await producer.call<T>(method, { ...t, n, ...args })
  const ws = await worker.call<WorkerStats>('worker.waitDone', { timeoutMs: o.waitTimeoutMs ?? cell.sizes.timeoutMs })
  await worker.call('worker.stop')
  return {
    svc,
    sub,
    ws,
    e2eJobsPerSec: (n / (ws.lastReturnAt - sub.firstSubmitAt)) * 1000,
    submitJobsPerSec: (n / (sub.lastAckAt - sub.firstSubmitAt)) * 1000,
  }
}
