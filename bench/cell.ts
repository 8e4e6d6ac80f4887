// One cell of the results table = one workload against one system in one run, fully isolated:
// fresh service, fresh data dir, fresh role processes, all torn down (killed by PID) at the end.

import type { Endpoint, SystemName } from './adapter.js'
import { RoleProc } from './proc.js'
import type { Target } from './roles/common.js'
import { kill9, removeDir, startBeanstalkd, startBrokerd, startRedis, stopProcess, tempDir, type Service } from './services.js'

/** Job counts and shapes; `--quick` swaps in a tiny set. */
export interface Sizes {
  w1: { n: number; warmup: number }
  w2: { clients: number; jobs: number }
  /** W3b/W3s: n jobs; W3a: serialN jobs, one awaited submit at a time. */
  w3: { n: number; serialN: number; chunk: number; window: number; connections: number; concurrency: number }
  w4: { watchers: number; procs: number }
  w5: { n: number; chunk: number; connections: number; concurrency: number }
  /** W6: n jobs delayed to T = first submit + marginMs (the fill must end before T). */
  w6: { n: number; chunk: number; marginMs: number; connections: number; concurrency: number }
  /** W7: n jobs delayed by an hour. */
  w7: { n: number; chunk: number }
  /** W5, W7: quiet time after the fill before RSS is read and the broker is killed. */
  settleMs: number
  /** How long a client waits for one job's result before calling it lost (W1, W2). */
  resultTimeoutMs: number
  /** Hard limit per cell; W5 and W7 (a million jobs, a restart) get their own. */
  timeoutMs: number
  w5TimeoutMs: number
}

export const FULL: Sizes = {
  w1: { n: 100, warmup: 10 },
  w2: { clients: 20, jobs: 100 },
  w3: { n: 50_000, serialN: 10_000, chunk: 1_000, window: 1_000, connections: 4, concurrency: 16 },
  w4: { watchers: 1_000, procs: 2 },
  w5: { n: 1_000_000, chunk: 5_000, connections: 4, concurrency: 16 },
  w6: { n: 100_000, chunk: 5_000, marginMs: 15_000, connections: 4, concurrency: 16 },
  w7: { n: 1_000_000, chunk: 5_000 },
  settleMs: 1_000,
  resultTimeoutMs: 10_000,
  timeoutMs: 120_000,
  w5TimeoutMs: 300_000,
}

export const QUICK: Sizes = {
  w1: { n: 20, warmup: 5 },
  w2: { clients: 20, jobs: 40 },
  w3: { n: 2_000, serialN: 300, chunk: 1_000, window: 1_000, connections: 4, concurrency: 16 },
  w4: { watchers: 50, procs: 1 },
  w5: { n: 10_000, chunk: 5_000, connections: 4, concurrency: 16 },
  w6: { n: 2_000, chunk: 1_000, marginMs: 1_000, connections: 4, concurrency: 16 },
  w7: { n: 20_000, chunk: 5_000 },
  settleMs: 250,
  resultTimeoutMs: 3_000,
  // Quick cells take ≤ 4 s even on a loaded 2-core box; run.ts's time budget counts on these limits.
  timeoutMs: 12_000,
  w5TimeoutMs: 12_000,
}

export class Cell {
  readonly notes: string[] = []
  private readonly services = new Set<Service>()
  private readonly procs: RoleProc[] = []
  private readonly dirs: string[] = []

  constructor(
    readonly system: SystemName,
    readonly sizes: Sizes,
  ) {}

  /** A fresh data directory, removed at teardown. */
  dir(): string {
    const d = tempDir(this.system)
    this.dirs.push(d)
    return d
  }

  /** Starts the system under test on a free port with persistence on. */
  async start(dir = this.dir()): Promise<Service> {
    const s = await startService(this.system, dir)
    this.services.add(s)
    return s
  }

  /** kill -9, then start again on the same data (and port, for the Redis/beanstalkd clients). */
  async crashAndRestart(s: Service, queue: string): Promise<Service> {
    await kill9(s)
    this.services.delete(s)
    const r = await startService(this.system, s.dir, s.endpoint, queue)
    this.services.add(r)
    return r
  }

  /** Stops a service and role processes before the cell ends (W8t runs two passes in one cell). */
  async release(s: Service, ...procs: RoleProc[]): Promise<void> {
    await Promise.allSettled(procs.map((p) => p.stop(1000)))
    await stopProcess(s.proc, 3000)
    this.services.delete(s)
  }

  role(label: string): RoleProc {
    const p = new RoleProc(`${this.system}/${label}`)
    this.procs.push(p)
    return p
  }

  target(s: Service, queue: string): Target {
    return { system: this.system, endpoint: s.endpoint, queue }
  }

  /** Everything this cell started goes away; also used after a timeout, so it never waits long. */
  async teardown(): Promise<void> {
    await Promise.allSettled(this.procs.map((p) => p.stop(1000)))
    await Promise.allSettled([...this.services].map((s) => stopProcess(s.proc, 3000)))
    this.services.clear()
    for (const d of this.dirs) removeDir(d)
  }
}

// The list key / tube names below mirror adapters/redis-lists.ts and adapters/beanstalkd.ts; they
// are repeated here so the orchestrator does not load client libraries just to probe a restart.
function startService(system: SystemName, dir: string, prev?: Endpoint, queue?: string): Promise<Service> {
  switch (system) {
    case 'brokerd-normal':
      return startBrokerd({ durability: 'normal', dir, timeoutMs: 120_000 })
    case 'brokerd-strict':
      return startBrokerd({ durability: 'strict', dir, timeoutMs: 120_000 })
    case 'bullmq':
    case 'redis-lists':
      return startRedis({ dir, port: prev?.port, expectList: queue ? { key: `bench:q:${queue}` } : undefined, timeoutMs: 120_000 })
    case 'beanstalkd':
      return startBeanstalkd({ dir, port: prev?.port, expectTube: queue ? { tube: `bench.${queue}` } : undefined, timeoutMs: 120_000 })
  }
}
