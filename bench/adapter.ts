// The one interface every system under test implements, plus the bench payload format.
// Adapters are used inside the role processes (producer / worker / watcher), never by the orchestrator.

/** Where a started service listens. `url` is set for brokerd (ws://...). */
export interface Endpoint {
  host: string
  port: number
  url?: string
}

/**
 * What the bench puts in every job: `i` (dense index 0..n-1, so workers can detect lost and
 * duplicate jobs with a bitmap) and `t` (submit time from clock.now(), so the worker can measure
 * submit → handler start across processes). `p` pads the JSON form to ~100 bytes.
 */
export interface BenchPayload {
  i: number
  t: number
  p: string
}

export function makePayload(i: number, t: number): BenchPayload {
  return { i, t, p: PAD }
}
/** W8's two levels: by payload index parity, so the worker knows each job's priority too. */
export const priorityOf = (p: { i: number }): 'high' | 'low' => (p.i % 2 === 0 ? 'high' : 'low')

// JSON.stringify({i:12345,t:1732434567890.123,p:PAD}) is ~100 bytes with this pad (the wire size differs per system's encoding).
const PAD = 'x'.repeat(60)

/** Per-job options that only the hand-rolled list/tube adapters need to know about. */
export interface SubmitHints {
  /** Somebody will wait for the result (W1, W2): list/tube adapters then send a reply. */
  wantResult?: boolean
  /** Somebody watches the job (W4): the Redis adapter then PUBLISHes the result. */
  watched?: boolean
  /**
   * Run the job at this time, ms since epoch (W6, W7). Only systems with delayed jobs; those with
   * relative delays (BullMQ ms, beanstalkd whole seconds) compute theirs at submit, rounded up.
   */
  runAt?: number
  /** Two-level priority per job (W8): 'high' jobs run before 'low' ones. */
  priority?: (payload: BenchPayload) => 'high' | 'low'
}

/** How a consumer is set up beyond its concurrency. */
export interface ConsumeOptions {
  /** The queue holds jobs of two priorities (W8): Redis lists then BRPOP the high list first. */
  priorities?: boolean
}

/** Producer-side connection: submit and wait for results. */
export interface ProducerClient {
  /**
   * Application start-up for a client that will wait for results on `queue` (W1, W2): whatever a
   * real app sets up once before serving requests (BullMQ's QueueEvents, reply-list readers).
   */
  prepare?(queue: string): Promise<void>
  submit(queue: string, payload: BenchPayload, hints?: SubmitHints): Promise<string>
  /** Absent when the system has no batch submit (beanstalkd). */
  submitMany?(queue: string, payloads: BenchPayload[], hints?: SubmitHints): Promise<string[]>
  /** Resolves with the job's result; rejects after timeoutMs. */
  result(id: string, timeoutMs: number): Promise<unknown>
  /**
   * Submit and wait for the result, when the system has one call for it (brokerd's run(): one
   * round trip). Used by W1r and W2r only; W1, W2 and systems without it call submit, then result.
   */
  submitAndWait?(queue: string, payload: BenchPayload, timeoutMs: number): Promise<unknown>
  close(): Promise<void>
}

/** The work function: returns the job result. */
export type BenchHandler = (payload: BenchPayload, jobId: string) => Promise<unknown> | unknown

/** One "worker connection" running up to `concurrency` handlers at once. */
export interface ConsumerHandle {
  close(): Promise<void>
}

/** One watcher connection, watching one job until its result is known. */
export interface WatcherHandle {
  /** Resolves once the watch is established (snapshot seen / SUBSCRIBE confirmed). */
  ready: Promise<void>
  /** Resolves with clock.now() at the moment the result reached this watcher. */
  done: Promise<number>
  close(): Promise<void>
}

export interface SystemAdapter {
  readonly name: string
  /** Delivery guarantee as a normal user of this system gets it. Printed in the table. */
  readonly semantics: 'at-least-once' | 'at-most-once'
  /** How `submitMany` is done, for the table (or undefined if there is none). */
  readonly batchNote?: string
  connectProducer(ep: Endpoint): Promise<ProducerClient>
  consume(ep: Endpoint, queue: string, handler: BenchHandler, concurrency: number, opts?: ConsumeOptions): Promise<ConsumerHandle>
  /** Absent when the system has no way to push a job's result to many listeners (beanstalkd). */
  watch?(ep: Endpoint, queue: string, id: string): Promise<WatcherHandle>
  /** Number of jobs waiting in `queue` (W5 recovery check), or undefined if unknown. */
  queuedCount?(ep: Endpoint, queue: string): Promise<number | undefined>
  /** Number of delayed jobs in `queue` (W7 recovery check), or undefined if unknown. */
  delayedCount?(ep: Endpoint, queue: string): Promise<number | undefined>
}

/** Names accepted by --systems, in table order. */
export const ALL_SYSTEMS = ['brokerd-normal', 'brokerd-strict', 'bullmq', 'redis-lists', 'beanstalkd'] as const
export type SystemName = (typeof ALL_SYSTEMS)[number]

/** Loads an adapter lazily so a broken/missing SDK build does not break the peer benchmarks. */
export async function loadAdapter(name: SystemName): Promise<SystemAdapter> {
  switch (name) {
    case 'brokerd-normal':
    case 'brokerd-strict':
      return (await import('./adapters/brokerd.js')).createBrokerdAdapter(name)
    case 'bullmq':
      return (await import('./adapters/bullmq.js')).bullmqAdapter
    case 'redis-lists':
      return (await import('./adapters/redis-lists.js')).redisListsAdapter
    case 'beanstalkd':
      return (await import('./adapters/beanstalkd.js')).beanstalkdAdapter
  }
}
