// The pure parts of delays and priorities: the retry backoff policy, the time heap that holds
// delayed jobs, and the ready queue's priority buckets.

import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/backoff.js'
import { TimeHeap } from '../../src/time-heap.js'
import { ReadyQueue } from '../../src/ready-queue.js'
import { Limits } from '../../protocol/ops.js'

describe('backoffDelay', () => {
  it('no backoff: retry at once', () => {
    expect(backoffDelay(null, 1)).toBe(0)
    expect(backoffDelay(null, 50)).toBe(0)
  })

  it('fixed: the same wait before every retry', () => {
    const b = { type: 'fixed' as const, delayMs: 250 }
    expect([1, 2, 3, 10].map((n) => backoffDelay(b, n))).toEqual([250, 250, 250, 250])
  })

  it('exponential: delayMs × 2^(n−1) before retry n, capped at maxDelayMs', () => {
    const b = { type: 'exponential' as const, delayMs: 100, maxDelayMs: 1_000 }
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(b, n))).toEqual([100, 200, 400, 800, 1_000, 1_000])
  })

  it('exponential without a cap stops at the longest delay (365 days), however many retries', () => {
    const b = { type: 'exponential' as const, delayMs: 1_000 }
    expect(backoffDelay(b, 1_000)).toBe(Limits.maxDelayMs)
    expect(Number.isFinite(backoffDelay(b, 100_000))).toBe(true)
  })

  it('jitter takes a random share of up to `jitter` off each wait, never more', () => {
    const b = { type: 'fixed' as const, delayMs: 1_000, jitter: 0.5 }
    expect(backoffDelay(b, 1, () => 0)).toBe(1_000)
    expect(backoffDelay(b, 1, () => 0.999999)).toBe(500)
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(b, 3)
      expect(d).toBeGreaterThanOrEqual(500)
      expect(d).toBeLessThanOrEqual(1_000)
    }
  })
})

describe('TimeHeap', () => {
  it('pops in due order, and in id order among equal due times', () => {
    const h = new TimeHeap(2)
    const entries: Array<[number, number]> = []
    let seed = 7
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 50
    for (let id = 1; id <= 500; id++) entries.push([1_000 + rnd(), id])
    for (const [due, id] of entries) h.push(due, id, id % 7)
    expect(h.size).toBe(500)
    const out: Array<[number, number]> = []
    while (h.size > 0) {
      expect(h.topTag).toBe(h.topId % 7)
      out.push([h.topDue, h.topId])
      h.pop()
    }
    const sorted = [...entries].sort((a, b) => a[0] - b[0] || a[1] - b[1])
    expect(out).toEqual(sorted)
    expect(h.topDue).toBe(Infinity)
  })

  it('keeps ids above 2^32 and negative tags (priorities) exactly', () => {
    const h = new TimeHeap()
    h.push(5, 2 ** 40 + 3, -1000)
    h.push(4, 2 ** 52, 1000)
    expect([h.topId, h.topTag]).toEqual([2 ** 52, 1000])
    h.pop()
    expect([h.topId, h.topTag]).toEqual([2 ** 40 + 3, -1000])
  })
})

describe('ReadyQueue', () => {
  it('gives the oldest item of the highest priority first', () => {
    const q = new ReadyQueue<string>(4)
    q.push('a0', 0)
    q.push('b5', 5)
    q.push('c-3', -3)
    q.push('d5', 5)
    q.push('e0', 0)
    q.push('f1000', 1000)
    expect(q.length).toBe(6)
    const out: string[] = []
    for (let s = q.shift(); s !== undefined; s = q.shift()) out.push(s)
    expect(out).toEqual(['f1000', 'b5', 'd5', 'a0', 'e0', 'c-3'])
    expect(q.length).toBe(0)
  })

  it('with priority 0 only it is a plain FIFO', () => {
    const q = new ReadyQueue<number>(2)
    for (let i = 0; i < 100; i++) q.push(i, 0)
    const out: number[] = []
    q.forEach((item, priority) => {
      expect(priority).toBe(0)
      out.push(item)
    })
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => i))
    for (let i = 0; i < 100; i++) expect(q.shift()).toBe(i)
  })
})
