// BullMQ on Redis, written as its docs show: Queue.add / addBulk, Worker with concurrency,
// QueueEvents + job.waitUntilFinished for results, QueueEvents 'completed' for watchers.

import { Queue, QueueEvents, Worker, type Job, type JobsOptions } from 'bullmq'
import type {
  BenchHandler,
  BenchPayload,
  ConsumerHandle,
  Endpoint,
  ProducerClient,
  SubmitHints,
  SystemAdapter,
  WatcherHandle,
} from '../adapter.js'
import { now, sleep } from '../clock.js'

// BullMQ requires maxRetriesPerRequest: null on connections used by workers and events.
const conn = (ep: Endpoint) => ({ host: ep.host, port: ep.port, maxRetriesPerRequest: null })

/**
 * BullMQ job options for hints: `delay` is relative (ms from now), and `priority` 1 is the
 * highest (a lower number runs first; 0 means no priority).
 */
function jobOpts(hints: SubmitHints | undefined, payload: BenchPayload): JobsOptions | undefined {
  if (hints?.runAt === undefined && hints?.priority === undefined) return undefined
  const o: JobsOptions = {}
  if (hints.runAt !== undefined) o.delay = Math.max(0, hints.runAt - Date.now())
  if (hints.priority !== undefined) o.priority = hints.priority(payload) === 'high' ? 1 : 2
  return o
}

class BullProducer implements ProducerClient {
  private readonly queues = new Map<string, Queue>()
  private readonly events = new Map<string, QueueEvents>()
  /** Jobs somebody will wait for: waitUntilFinished needs the Job object. */
  private readonly jobs = new Map<string, Job>()

  constructor(private readonly ep: Endpoint) {}

  private queue(name: string): Queue {
    let q = this.queues.get(name)
    if (!q) this.queues.set(name, (q = new Queue(name, { connection: conn(this.ep) })))
    return q
  }

  async submit(queue: string, payload: BenchPayload, hints?: SubmitHints): Promise<string> {
    const job = await this.queue(queue).add('job', payload, jobOpts(hints, payload))
    if (hints?.wantResult) this.jobs.set(job.id!, job)
    return job.id!
  }

  async submitMany(queue: string, payloads: BenchPayload[], hints?: SubmitHints): Promise<string[]> {
    const jobs = await this.queue(queue).addBulk(payloads.map((data) => ({ name: 'job', data, opts: jobOpts(hints, data) })))
    if (hints?.wantResult) for (const j of jobs) this.jobs.set(j.id!, j)
    return jobs.map((j) => j.id!)
  }

  /**
   * Apps create QueueEvents at start-up. It must really be reading its stream (XREAD from '$')
   * before the first job finishes: waitUntilReady() only means "connected", and a QueueEvents made
   * just before a fast job misses its 'completed' event (waitUntilFinished then hangs; seen in W1).
   * The pause stands for the time between an app's start-up and its first request.
   */
  async prepare(queue: string): Promise<void> {
    if (this.events.has(queue)) return
    const qe = new QueueEvents(queue, { connection: conn(this.ep) })
    this.events.set(queue, qe)
    this.queue(queue)
    await qe.waitUntilReady()
    await sleep(250)
  }

  async result(id: string, timeoutMs: number): Promise<unknown> {
    const job = this.jobs.get(id)
    if (!job) throw new Error(`bullmq: job ${id} was not submitted with wantResult`)
    await this.prepare(job.queueName)
    const qe = this.events.get(job.queueName)!
    try {
      return await job.waitUntilFinished(qe, timeoutMs)
    } finally {
      this.jobs.delete(id)
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.events.values()].map((e) => e.close()))
    await Promise.all([...this.queues.values()].map((q) => q.close()))
  }
}

async function consume(ep: Endpoint, queue: string, handler: BenchHandler, concurrency: number): Promise<ConsumerHandle> {
  const w = new Worker(queue, async (job: Job<BenchPayload>) => handler(job.data, job.id!), {
    connection: conn(ep),
    concurrency,
  })
  w.on('error', (e) => console.error('bullmq worker error:', e.message))
  await w.waitUntilReady()
  return { close: () => w.close() }
}

/** One QueueEvents (one Redis connection doing XREAD BLOCK) per watcher. */
async function watch(ep: Endpoint, queue: string, id: string): Promise<WatcherHandle> {
  const qe = new QueueEvents(queue, { connection: conn(ep) })
  let resolveDone!: (t: number) => void
  const done = new Promise<number>((r) => (resolveDone = r))
  qe.on('completed', ({ jobId }) => {
    if (jobId === id) resolveDone(now())
  })
  return { ready: qe.waitUntilReady().then(() => undefined), done, close: () => qe.close() }
}

async function queuedCount(ep: Endpoint, queue: string): Promise<number> {
  const q = new Queue(queue, { connection: conn(ep) })
  try {
    return await q.getWaitingCount()
  } finally {
    await q.close()
  }
}

export const bullmqAdapter: SystemAdapter = {
  name: 'bullmq',
  semantics: 'at-least-once',
  batchNote: 'Queue.addBulk',
  connectProducer: async (ep) => new BullProducer(ep),
  consume,
  watch,
  queuedCount,
}
