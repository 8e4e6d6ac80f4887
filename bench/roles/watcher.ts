// Watcher role (W4): opens `count` watcher connections on one job and reports when each saw the result.
// Two such processes hold 1,000 watchers: this is the fan-out side of the benchmark.

import type { WatcherHandle } from '../adapter.js'
import { now, withTimeout } from '../clock.js'
import { adapterFor, mapLimit, type Target } from './common.js'

let watchers: WatcherHandle[] = []

/** Opens the watchers (50 connects in flight at a time) and waits until every one is established. */
export async function setup(a: Target & { id: string; count: number }): Promise<{ setupMs: number }> {
  const adapter = await adapterFor(a.system)
  if (!adapter.watch) throw new Error(`${a.system} has no watch`)
  const t0 = now()
  watchers = await mapLimit(Array.from({ length: a.count }), 50, async () => {
    const w = await adapter.watch!(a.endpoint, a.queue, a.id)
    await w.ready
    return w
  })
  return { setupMs: now() - t0 }
}

/** clock.now() at which each watcher had the result; throws if some never got it. */
export async function collect(a: { timeoutMs: number }): Promise<number[]> {
  let got = 0
  const times = watchers.map((w) => w.done.then((t) => (got++, t)))
  return withTimeout(Promise.all(times), a.timeoutMs, 'watchers').catch((e: Error) => {
    throw new Error(`${e.message}: ${got}/${watchers.length} watchers got the result`)
  })
}

export async function close(): Promise<void> {
  await mapLimit(watchers, 100, (w) => w.close().catch(() => {}))
  watchers = []
}
