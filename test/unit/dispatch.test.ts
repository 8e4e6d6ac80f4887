import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { Broker, DEFAULT_SUBMIT, type SubmitTarget } from '../../src/broker.js'
import { Consumer, type DeliveryTarget } from '../../src/consumer.js'
import { PROMOTE_PER_WAKE } from '../../src/queue-actor.js'
import type { JobRef } from '../../src/job.js'
import { Store } from '../../src/store.js'
import { encodeValue } from '../../protocol/codec.js'
import type { BrokerError } from '../../protocol/errors.js'

/** A connection that records what it was handed, with no socket behind it. */
class Recorder implements DeliveryTarget, SubmitTarget {
  slow = false
  closed = false
  readonly answering = false
  readonly watching = new Set<number>()
  readonly got: Array<{ consumer: number; job: JobRef; payload: unknown; attempt: number }> = []
  deliver(consumer: Consumer, job: JobRef, payload: Uint8Array): void {
    this.got.push({ consumer: consumer.id, job, payload: Buffer.from(payload).toString(), attempt: job.attempts + 1 })
  }
  readonly revoked: number[] = []
  readonly submitted: Array<{ rid: number; ids: number[] }> = []
  readonly errors: Array<{ rid: number; code: string }> = []
  forget(): void {}
  revoke(_consumer: Consumer, job: JobRef): void {
    this.revoked.push(job.id)
  }
  flush(): void {}
  pushSnapshot(): void {}
  pushError(rid: number, err: BrokerError): void {
    this.errors.push({ rid, code: err.code })
  }
  pushSubmitted(rid: number, ids: number[]): void {
    this.submitted.push({ rid, ids })
  }
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
  const producer = new Recorder()
  const submit = (queue: string, text: string, opts: Partial<typeof DEFAULT_SUBMIT> = {}) =>
    broker.submit(producer, 0, queue, Buffer.from(text), { ...DEFAULT_SUBMIT, ...opts }, 1)?.id ?? -1
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
  return { store, broker, submit, consumer, producer }
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
    const { submit, store, consumer } = setup()
    const id = submit('q', 'bad', { maxAttempts: 2 })
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
    for (let i = 0; i < 5; i++) broker.submit(new Recorder(), 0, 'q', Buffer.from(`payload-${i}`), DEFAULT_SUBMIT, 1)
    const w = new Recorder()
    broker.serve(new Consumer(1, w, [broker.actor('q')], 5, 30_000))
    expect(w.got.map((d) => d.payload)).toEqual(['payload-0', 'payload-1', 'payload-2', 'payload-3', 'payload-4'])
  })
})

describe('lifecycle in the actor', () => {
  const later = () => Date.now() + 3_600_000

  it('higher priority is dispatched first, FIFO within one priority, after jobs of the same priority already waiting', () => {
    const { submit, consumer } = setup()
    submit('q', 'p0-a')
    submit('q', 'p5-a', { priority: 5 })
    submit('q', 'n1', { priority: -1 })
    submit('q', 'p5-b', { priority: 5 })
    submit('q', 'p0-b')
    const w = new Recorder()
    consumer(w, ['q'], 10)
    expect(w.got.map((d) => d.payload)).toEqual(['p5-a', 'p5-b', 'p0-a', 'p0-b', 'n1'])
  })

  it('a delayed job is not dispatched before its time; at its time it goes to a waiting consumer', () => {
    const { broker, submit, consumer } = setup()
    const w = new Recorder()
    consumer(w, ['q'], 1)
    const runAt = later()
    submit('q', 'later', { runAt })
    expect(w.got).toHaveLength(0)
    expect(broker.actor('q').counts()).toMatchObject({ queued: 0, delayed: 1 })
    broker.actor('q').wake(runAt - 1)
    expect(w.got).toHaveLength(0)
    broker.actor('q').wake(runAt)
    expect(w.got.map((d) => d.payload)).toEqual(['later'])
    expect(broker.actor('q').counts()).toMatchObject({ queued: 0, delayed: 0, active: 1 })
    broker.stopTimers()
  })

  it('jobs due at the same instant become ready in submission order, by priority', () => {
    const { broker, submit, consumer } = setup()
    const runAt = later()
    submit('q', 'a', { runAt })
    submit('q', 'b', { runAt, priority: 3 })
    submit('q', 'c', { runAt })
    broker.actor('q').wake(runAt + 5)
    const w = new Recorder()
    consumer(w, ['q'], 3)
    expect(w.got.map((d) => d.payload)).toEqual(['b', 'a', 'c'])
    broker.stopTimers()
  })

  it('cancel: a queued job is skipped, a delayed one never comes due, an active one is revoked and keeps its credit', () => {
    const { broker, store, submit, consumer } = setup()
    const q1 = submit('q', 'queued-1')
    const q2 = submit('q', 'queued-2')
    const runAt = later()
    const d1 = submit('q', 'delayed-1', { runAt })
    expect(broker.cancel(q1)).toEqual({ state: 'cancelled', cancelled: true })
    expect(broker.cancel(d1)).toEqual({ state: 'cancelled', cancelled: true })
    expect(broker.actor('q').counts()).toMatchObject({ queued: 1, delayed: 0, cancelled: 2 })
    const w = new Recorder()
    const c = consumer(w, ['q'], 1)
    expect(w.got.map((d) => d.job.id)).toEqual([q2])
    broker.actor('q').wake(runAt)
    expect(broker.cancel(q2)).toEqual({ state: 'cancelled', cancelled: true })
    expect(w.revoked).toEqual([q2])
    expect(c.inflight).toBe(1) // the handler may still run: its credit stays taken
    expect(broker.cancel(q2)).toEqual({ state: 'cancelled', cancelled: false })
    expect(() => broker.retry(q2)).toThrow(/has not let go/)
    broker.actor('q').releaseRevoked(w.got[0].job)
    expect(c.inflight).toBe(0)
    store.commit()
    expect(store.row(q2)).toMatchObject({ state: 5, attempts: 1 })
    expect(w.got).toHaveLength(1)
    broker.stopTimers()
  })

  it('a job retried after a cancel is delivered once, not twice (its stale entry is skipped)', () => {
    const { broker, submit, consumer } = setup()
    const id = submit('q', 'x')
    broker.cancel(id)
    expect(broker.retry(id)).toEqual({ state: 'queued' })
    expect(broker.actor('q').counts()).toMatchObject({ queued: 1, cancelled: 0 })
    const w = new Recorder()
    consumer(w, ['q'], 10)
    expect(w.got.map((d) => [d.job.id, d.attempt])).toEqual([[id, 1]])
    expect(broker.actor('q').counts()).toMatchObject({ queued: 0, active: 1 })
  })

  it('retry of a job that is not failed or cancelled is a conflict; remove of an active job too', () => {
    const { broker, submit, consumer } = setup()
    const id = submit('q', 'x')
    expect(() => broker.retry(id)).toThrow(/only failed or cancelled/)
    const w = new Recorder()
    consumer(w, ['q'], 1)
    expect(() => broker.remove(id)).toThrow(/cancel it first/)
    w.got[0].job.actor.ack(w.got[0].job, null)
    expect(() => broker.retry(id)).toThrow(/completed/)
    expect(broker.remove(id)).toEqual({ state: 'completed' })
    expect(() => broker.remove(id)).toThrow(/does not exist/)
  })

  it('pause holds dispatch (consumers stay parked); resume serves them at once', () => {
    const { broker, submit, consumer } = setup()
    const w = new Recorder()
    consumer(w, ['q'], 5)
    broker.pause('q', true)
    submit('q', 'a')
    submit('q', 'b')
    expect(w.got).toHaveLength(0)
    expect(broker.queueInfo('q')).toMatchObject({ paused: true, queued: 2 })
    broker.pause('q', false)
    expect(w.got.map((d) => d.payload)).toEqual(['a', 'b'])
  })

  it('maxLength: a full queue refuses at once without waitMs and admits waiting submits in arrival order as room is made', () => {
    const { broker, submit, consumer, producer } = setup()
    broker.configure('q', { maxLength: 2 })
    submit('q', 'a')
    submit('q', 'b')
    expect(() => submit('q', 'c')).toThrow(/is full/)
    const first = broker.submitMany(
      producer,
      10,
      'q',
      [Buffer.from('w1'), Buffer.from('w2')],
      [
        { ...DEFAULT_SUBMIT, waitMs: 60_000 },
        { ...DEFAULT_SUBMIT, waitMs: 60_000 },
      ],
      1,
    )
    const second = broker.submit(producer, 11, 'q', Buffer.from('w3'), { ...DEFAULT_SUBMIT, waitMs: 60_000 }, 1)
    expect([first, second]).toEqual([null, null])
    expect(broker.queueInfo('q')).toMatchObject({ queued: 2, waiting: 2 })
    // one job leaves: the head waiter needs two, so nobody gets in (no overtaking)
    const w = new Recorder()
    const c = consumer(w, ['q'], 1)
    expect(producer.submitted).toEqual([])
    c.credit = 2
    broker.serve(c)
    expect(producer.submitted.map((s) => s.rid)).toEqual([10])
    c.credit = 3
    broker.serve(c)
    expect(producer.submitted.map((s) => s.rid)).toEqual([10, 11])
    expect(w.got.map((d) => d.payload)).toEqual(['a', 'b', 'w1'])
    expect(broker.queueInfo('q')).toMatchObject({ queued: 2, waiting: 0 })
    broker.stopTimers()
  })

  it('a waiting submit times out with queue_full; raising maxLength admits the others', () => {
    const { broker, submit, producer } = setup()
    broker.configure('q', { maxLength: 1 })
    submit('q', 'a')
    broker.submit(producer, 20, 'q', Buffer.from('soon'), { ...DEFAULT_SUBMIT, waitMs: 10 }, 1)
    broker.submit(producer, 21, 'q', Buffer.from('later'), { ...DEFAULT_SUBMIT, waitMs: 60_000 }, 1)
    broker.actor('q').wake(Date.now() + 50)
    expect(producer.errors).toEqual([{ rid: 20, code: 'queue_full' }])
    expect(producer.submitted).toEqual([])
    broker.configure('q', { maxLength: null })
    expect(producer.submitted.map((s) => s.rid)).toEqual([21])
    broker.stopTimers()
  })

  it('lists a queue state newest first, in pages that never repeat a job', () => {
    const { broker, submit } = setup()
    const ids = Array.from({ length: 7 }, (_, i) => submit('q', `j${i}`, { priority: i % 2 }))
    const page1 = broker.listJobs('q', 0, Number.MAX_SAFE_INTEGER, 3)
    expect(page1.jobs.map((j) => j.id)).toEqual([ids[6], ids[5], ids[4]])
    const page2 = broker.listJobs('q', 0, page1.cursor as number, 3)
    expect(page2.jobs.map((j) => j.id)).toEqual([ids[3], ids[2], ids[1]])
    const page3 = broker.listJobs('q', 0, page2.cursor as number, 3)
    expect(page3.jobs.map((j) => j.id)).toEqual([ids[0]])
    expect(page3.cursor).toBeUndefined()
  })

  it('a burst due at one instant is moved to the line in slices; a job not yet moved is still delayed and can be cancelled', () => {
    const { broker, store, submit, consumer } = setup()
    const runAt = later()
    const ids = Array.from({ length: 2500 }, (_, i) => submit('q', `b${i}`, { runAt }))
    const actor = broker.actor('q')
    actor.wake(runAt)
    expect(actor.counts()).toMatchObject({ queued: PROMOTE_PER_WAKE, delayed: 2500 - PROMOTE_PER_WAKE })
    store.commit()
    // the last job of the burst has not been moved yet: cancelling it marks its heap entry
    expect(broker.snapshot(ids[2499])?.state).toBe('delayed')
    expect(broker.snapshot(ids[0])?.state).toBe('queued')
    expect(broker.cancel(ids[2499])).toEqual({ state: 'cancelled', cancelled: true })
    expect(broker.cancel(ids[10])).toEqual({ state: 'cancelled', cancelled: true })
    for (let i = 0; i < 100 && actor.counts().delayed > 0; i++) actor.wake(runAt)
    expect(actor.counts()).toMatchObject({ queued: 2498, delayed: 0, cancelled: 2 })
    const w = new Recorder()
    consumer(w, ['q'], 5000)
    expect(w.got).toHaveLength(2498)
    expect(new Set(w.got.map((d) => d.job.id)).size).toBe(2498)
    expect(w.got.some((d) => d.job.id === ids[2499] || d.job.id === ids[10])).toBe(false)
    // in submission order
    expect(w.got.map((d) => d.job.id)).toEqual(ids.filter((id) => id !== ids[10] && id !== ids[2499]))
    broker.stopTimers()
  })
})
