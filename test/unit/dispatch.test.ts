import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Broker, DEFAULT_SUBMIT, type FlushTarget } from '../../src/broker.js'
import { Consumer, type DeliveryTarget } from '../../src/consumer.js'
import type { JobRef } from '../../src/job.js'
import { Store } from '../../src/store.js'
import { encodeValue } from '../../protocol/codec.js'

/** A connection that records what it was handed, with no socket behind it. */
class Recorder implements DeliveryTarget, FlushTarget {
  slow = false
  closed = false
  readonly watching = new Set<number>()
  readonly got: Array<{ consumer: number; job: JobRef; payload: unknown; attempt: number }> = []
  deliver(consumer: Consumer, job: JobRef, payload: Uint8Array): void {
    this.got.push({ consumer: consumer.id, job, payload: Buffer.from(payload).toString(), attempt: job.attempts + 1 })
  }
  forget(): void {}
  flush(): void {}
  writeSnapshot(): void {}
  writeError(): void {}
  subscribe(): void {}
  unsubscribe(): void {}
}

function setup(opts: { leaseMs?: number } = {}) {
  const store = new Store(':memory:', 'normal')
  const broker = new Broker<Recorder>(
    store,
    { publish() {} },
    { leaseMs: opts.leaseMs ?? 30_000, retentionMs: 60_000, payloadCacheBytes: 1 << 20 },
    pino({ level: 'silent' }),
  )
  const submit = (queue: string, text: string) => broker.submit(queue, Buffer.from(text), DEFAULT_SUBMIT, 1, 0).id
  const consumer = (target: Recorder, queues: string[], credit: number, id = 1) => {
    const c = new Consumer(
      id,
      target,
      queues.map((q) => broker.actor(q)),
      credit,
      opts.leaseMs ?? 30_000,
    )
    broker.serve(c)
    return c
  }
  return { store, broker, submit, consumer }
}

describe('dispatch', () => {
  it('a parked consumer receives a job submitted later, in the same call (blocking pop)', () => {
    const { submit, consumer } = setup()
    const w = new Recorder()
    consumer(w, ['q'], 1)
    expect(w.got).toHaveLength(0)
    submit('q', 'hello')
    expect(w.got.map((d) => d.payload)).toEqual(['hello'])
  })

  it('a consumer with credit N never holds more than N deliveries', () => {
    const { submit, consumer } = setup()
    for (let i = 0; i < 10; i++) submit('q', `j${i}`)
    const w = new Recorder()
    const c = consumer(w, ['q'], 3)
    expect(w.got).toHaveLength(3)
    expect(c.inflight).toBe(3)
    w.got[0].job.actor.ack(w.got[0].job, null)
    expect(w.got).toHaveLength(4) // one settled, one more delivered
    expect(c.inflight).toBe(3)
  })

  it('raising credit delivers at once; lowering it stops deliveries until enough are settled', () => {
    const { broker, submit, consumer } = setup()
    for (let i = 0; i < 10; i++) submit('q', `j${i}`)
    const w = new Recorder()
    const c = consumer(w, ['q'], 2)
    c.credit = 5
    broker.serve(c)
    expect(w.got).toHaveLength(5)
    c.credit = 1
    for (const d of w.got.slice(0, 3)) d.job.actor.ack(d.job, null)
    expect(w.got).toHaveLength(5) // 2 still in flight, credit 1: nothing new
    w.got[3].job.actor.ack(w.got[3].job, null)
    expect(w.got).toHaveLength(5) // 1 in flight = credit
    w.got[4].job.actor.ack(w.got[4].job, null)
    expect(w.got).toHaveLength(6)
  })

  it('a consumer on [high, low] always gets high jobs first', () => {
    const { submit, consumer } = setup()
    submit('low', 'l1')
    submit('high', 'h1')
    submit('low', 'l2')
    submit('high', 'h2')
    const w = new Recorder()
    consumer(w, ['high', 'low'], 1)
    const order: unknown[] = []
    for (let i = 0; i < 4; i++) {
      const d = w.got[i]
      order.push(d.payload)
      d.job.actor.ack(d.job, null)
    }
    expect(order).toEqual(['h1', 'h2', 'l1', 'l2'])
  })

  it('parked consumers are served longest-waiting first, so work spreads evenly', () => {
    const { submit, consumer } = setup()
    const targets = [new Recorder(), new Recorder(), new Recorder(), new Recorder()]
    targets.forEach((t, i) => consumer(t, ['q'], 1000, i + 1))
    for (let i = 0; i < 4000; i++) submit('q', `j${i}`)
    for (const t of targets) expect(t.got).toHaveLength(1000)
  })

  it('a delivery whose lease ended goes back to the queue with attempt + 1', () => {
    const { broker, submit, consumer } = setup({ leaseMs: 1000 })
    submit('q', 'slow')
    const first = new Recorder()
    consumer(first, ['q'], 1)
    expect(first.got[0].attempt).toBe(1)
    const job = first.got[0].job
    broker.actor('q').expireLeases(job.leaseDeadline - 1, encodeValue({ message: 'expired' }))
    expect(broker.actor('q').activeCount).toBe(1) // not yet
    broker.actor('q').expireLeases(job.leaseDeadline, encodeValue({ message: 'expired' }))
    const second = new Recorder()
    consumer(second, ['q'], 1, 2)
    expect(first.got).toHaveLength(2) // the first consumer got its credit back and the job again
    expect(first.got[1].attempt).toBe(2)
    expect(second.got).toHaveLength(0)
  })

  it('a job failing maxAttempts times ends failed and is not delivered again', () => {
    const { broker, store, consumer } = setup()
    const { id } = broker.submit('q', Buffer.from('bad'), { ...DEFAULT_SUBMIT, maxAttempts: 2 }, 1, 0)
    const w = new Recorder()
    consumer(w, ['q'], 1)
    w.got[0].job.actor.failDelivery(w.got[0].job, null, true)
    expect(w.got).toHaveLength(2)
    w.got[1].job.actor.failDelivery(w.got[1].job, null, true)
    expect(w.got).toHaveLength(2)
    store.commit()
    expect(store.row(id)).toMatchObject({ state: 3, attempts: 2 })
  })

  it('payloads beyond the cache budget stay in the store and are read back at dispatch', () => {
    const store = new Store(':memory:', 'normal')
    const broker = new Broker<Recorder>(
      store,
      { publish() {} },
      { leaseMs: 30_000, retentionMs: 60_000, payloadCacheBytes: 10 },
      pino({ level: 'silent' }),
    )
    for (let i = 0; i < 5; i++) broker.submit('q', Buffer.from(`payload-${i}`), DEFAULT_SUBMIT, 1, 0)
    const w = new Recorder()
    broker.serve(new Consumer(1, w, [broker.actor('q')], 5, 30_000))
    expect(w.got.map((d) => d.payload)).toEqual(['payload-0', 'payload-1', 'payload-2', 'payload-3', 'payload-4'])
  })
})
