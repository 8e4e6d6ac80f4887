// beanstalkd with its binlog on: put (pri, delay) / reserve / delete, results via a reply tube per producer.
// At-least-once within the TTR (a reserved job whose worker dies is released again); no pub/sub, so no W4.

import type { BenchHandler, BenchPayload, ConsumerHandle, Endpoint, ProducerClient, SubmitHints, SystemAdapter } from '../adapter.js'
import { BeanstalkClient } from './beanstalk-client.js'
import { ReplyRouter } from '../reply-router.js'

/** Tube names: [A-Za-z0-9+/;.$_()-], up to 200 bytes. */
const jobTube = (q: string) => `bench.${q}`

interface Envelope {
  /** Reply tube (only when somebody waits for the result). */
  r?: string
  d: BenchPayload
}

let producerSeq = 0

class BeanstalkProducer implements ProducerClient {
  private reply: BeanstalkClient | undefined
  private readonly replyTube = `reply.${process.pid}.${producerSeq++}`
  private closed = false
  private readonly replies = new ReplyRouter('beanstalkd')

  private constructor(
    private readonly ep: Endpoint,
    private readonly conn: BeanstalkClient,
  ) {}

  static async connect(ep: Endpoint): Promise<BeanstalkProducer> {
    const c = new BeanstalkClient(ep.host, ep.port)
    await c.ready
    return new BeanstalkProducer(ep, c)
  }

  async submit(queue: string, payload: BenchPayload, hints?: SubmitHints): Promise<string> {
    const env: Envelope = { d: payload }
    if (hints?.wantResult) {
      env.r = this.replyTube
      await this.startReplyLoop()
    }
    // use + put are pipelined on the socket; many concurrent submits become one write burst.
    // pri: lower is more urgent (1024 is the usual default).
    const pri = hints?.priority === undefined ? 1024 : hints.priority(payload) === 'high' ? 0 : 1024
    // delay: whole seconds counted from when beanstalkd reads the put. Rounded up, so the job is
    // due in [runAt, runAt + 1 s): never early, but a common instant is only good to a second.
    const delay = hints?.runAt === undefined ? 0 : Math.max(0, Math.ceil((hints.runAt - Date.now()) / 1000))
    const [, id] = await Promise.all([this.conn.use(jobTube(queue)), this.conn.put(JSON.stringify(env), pri, delay)])
    return id
  }

  // No submitMany: beanstalkd has no batch put.

  async prepare(): Promise<void> {
    await this.startReplyLoop()
  }

  /** A second connection watches this producer's reply tube; results are routed by job id. */
  private async startReplyLoop(): Promise<void> {
    if (this.reply) return
    const r = (this.reply = new BeanstalkClient(this.ep.host, this.ep.port))
    await r.ready
    await r.watch(this.replyTube)
    await r.ignore('default')
    void (async () => {
      while (!this.closed) {
        let job: { id: string; body: Buffer } | null
        try {
          job = await r.reserve(1) // 1 s so that close() is noticed
        } catch (e) {
          if (this.closed) return
          throw e
        }
        if (!job) continue
        const { id, res } = JSON.parse(job.body.toString()) as { id: string; res: unknown }
        void r.delete(job.id).catch(() => {})
        this.replies.deliver(id, res)
      }
    })()
  }

  result(id: string, timeoutMs: number): Promise<unknown> {
    return this.replies.wait(id, timeoutMs)
  }

  async close(): Promise<void> {
    this.closed = true
    this.reply?.close()
    this.conn.close()
  }
}

/** `concurrency` connections each looping reserve → handler → (reply put) → delete. */
async function consume(ep: Endpoint, queue: string, handler: BenchHandler, concurrency: number): Promise<ConsumerHandle> {
  let closed = false
  const conns: BeanstalkClient[] = []
  const loops: Promise<void>[] = []
  for (let c = 0; c < concurrency; c++) {
    const b = new BeanstalkClient(ep.host, ep.port)
    conns.push(b)
    await b.ready
    await b.watch(jobTube(queue))
    await b.ignore('default')
    loops.push(
      (async () => {
        while (!closed) {
          let job: { id: string; body: Buffer } | null
          try {
            job = await b.reserve(1)
          } catch (e) {
            if (closed) return
            throw e
          }
          if (!job) continue
          const env = JSON.parse(job.body.toString()) as Envelope
          const res = await handler(env.d, job.id)
          try {
            // Pipelined: reply (use + put) and delete go out in one write, one round trip.
            const ops: Promise<unknown>[] = []
            if (env.r) ops.push(b.use(env.r), b.put(JSON.stringify({ id: job.id, res })))
            ops.push(b.delete(job.id))
            await Promise.all(ops)
          } catch (e) {
            if (closed) return
            throw e
          }
        }
      })(),
    )
  }
  return {
    async close() {
      closed = true
      for (const c of conns) c.close()
      await Promise.allSettled(loops)
    },
  }
}

async function tubeCount(ep: Endpoint, queue: string, field: 'current-jobs-ready' | 'current-jobs-delayed'): Promise<number | undefined> {
  const c = new BeanstalkClient(ep.host, ep.port)
  try {
    await c.ready
    const s = await c.statsTube(jobTube(queue))
    return s ? Number(s[field]) : 0
  } finally {
    c.close()
  }
}

export const beanstalkdAdapter: SystemAdapter = {
  name: 'beanstalkd',
  semantics: 'at-least-once',
  connectProducer: (ep) => BeanstalkProducer.connect(ep),
  consume,
  queuedCount: (ep, queue) => tubeCount(ep, queue, 'current-jobs-ready'),
  delayedCount: (ep, queue) => tubeCount(ep, queue, 'current-jobs-delayed'),
}
