// Shared bits of the child-process roles: adapter cache and the argument shape every call carries.
// A role process serves one system at a time; the orchestrator tells it which.

import { loadAdapter, type Endpoint, type SystemAdapter, type SystemName } from '../adapter.js'

export interface Target {
  system: SystemName
  endpoint: Endpoint
  queue: string
}

const cache = new Map<SystemName, Promise<SystemAdapter>>()

export function adapterFor(system: SystemName): Promise<SystemAdapter> {
  let a = cache.get(system)
  if (!a) cache.set(system, (a = loadAdapter(system)))
  return a
}

/** Runs fn over items with at most `limit` in flight (connection storms make setup times noisy). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i], i)
    }
  })
  await Promise.all(lanes)
  return out
}
