// The SDK's public API: `connect()` gives a Broker to submit, consume, watch, wait for results,
// and manage jobs and queues. Each call is one request on the Connection underneath (which owns
// the socket, request ids and reconnects); this file is what each call sends and returns.

import { FrameWriter, decodeValue, encodeValue } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { Op } from '../protocol/ops.js'
import { Connection, type Pending } from './connection.js'
import { PoppedJobImpl } from './popped-job.js'
import { Outcome } from './outcome.js'
import { QueuedIterator } from './queued-iterator.js'
import type { WatchSink, WatchStream } from './watch-stream.js'
import { WorkerImpl } from './worker.js'
import { parseId, submitWireOpts, toSnapshot, withSignal, writeSubmit } from './wire.js'
import type {
  ConnectOptions,
  ConsumeOptions,
  FinishedState,
  Handler,
  JobPage,
  JobSnapshot,
  JobState,
  ListJobsOptions,
  PopOptions,
  PoppedJob,
  QueueMap,
  QueueSettingsChange,
  Stats,
  SubmitOptions,
  Submitted,
  WatchEvent,
  Worker,
} from './types.js'

/** Opens a connection to a broker (ws://host:port); resolves once the broker welcomed it. */
export async function connect(url: string, opts: ConnectOptions = {}): Promise<Broker> {
  const broker = new Broker(url, opts)
  await broker.start()
  return broker
}

export class Broker extends Connection {
  // ---- producing -------------------------------------------------------------------------------

  /** Submits a job; resolves once the broker has durably stored it. */
  submit<P = unknown>(queue: string, payload: P, opts: SubmitOptions = {}): Promise<Submitted> {
    const bytes = encodeValue(payload)
    const wireOpts = submitWireOpts(opts)
    const connLastJob = this.connLastJob
    const done = this.request<unknown[]>('submit', (w, rid, resend) =>
      writeSubmit(w, rid, queue, bytes, wireOpts, resend ? connLastJob : -1),
    )
    return withSignal(
      done.then((m) => ({ id: String(m[2]), duplicate: m[3] as boolean })),
      opts.signal,
    )
  }

  /**
   * Submits many jobs to one queue in one atomic request (all stored, or none). `opts` apply to
   * every job, except idempotency keys: `keys[i]` is job i's.
   */
  async submitMany<P = unknown>(
    queue: string,
    payloads: P[],
    opts: Omit<SubmitOptions, 'key'> & { keys?: string[] } = {},
  ): Promise<{ ids: string[]; duplicates: boolean[] }> {
    if ((opts as SubmitOptions).key !== undefined) throw new BrokerError('bad_request', 'submitMany takes one key per job: { keys: [...] }')
    if (opts.keys !== undefined && opts.keys.length !== payloads.length)
      throw new BrokerError('bad_request', `submitMany got ${opts.keys.length} keys for ${payloads.length} jobs`)
    if (payloads.length === 0) return { ids: [], duplicates: [] }
    const encoded = payloads.map((p) => encodeValue(p))
    const keys = opts.keys
    const wireOpts = submitWireOpts(opts)
    const connLastJob = this.connLastJob
    const request = this.request<unknown[]>('submit', (w, rid, resend) => {
      w.array(4).uint(Op.submitMany).uint(rid).str(queue).array(encoded.length)
      const o = resend ? { ...wireOpts, resendAfter: connLastJob } : wireOpts
      for (let i = 0; i < encoded.length; i++) {
        w.array(2).bin(encoded[i])
        if (keys !== undefined) w.value({ ...o, key: keys[i] })
        else if (o === null) w.nil()
        else w.value(o)
      }
    })
    // Item i is de-duplicated on re-send by sequence rid + i: keep those ids unused.
    this.reserveRids(encoded.length)
    const m = await withSignal(request, opts.signal)
    return { ids: (m[2] as number[]).map(String), duplicates: m[3] as boolean[] }
  }

  // ---- consuming -------------------------------------------------------------------------------

  /** Runs `handler` for each job of `queue` (or of several queues, first has priority). */
  consume<P = unknown, R = unknown>(queue: string | string[], handler: Handler<P, R>, opts: ConsumeOptions = {}): Worker {
    const worker = new WorkerImpl(this, this.nextConsumerId++, Array.isArray(queue) ? queue : [queue], handler as Handler, opts)
    this.workers.set(worker.id, worker)
    if (this.ready) worker.register()
    return worker
  }

  /** One-shot blocking pop: the next job of the first non-empty queue, or null after timeoutMs. */
  async pop<P = unknown>(queue: string | string[], opts: PopOptions = {}): Promise<PoppedJob<P> | null> {
    const queues = Array.isArray(queue) ? queue : [queue]
    const timeoutMs = opts.timeoutMs ?? 0
    const m = await withSignal(
      this.request<unknown[]>('idempotent', (w, rid) => {
        w.array(5).uint(Op.pop).uint(rid).array(queues.length)
        for (const q of queues) w.str(q)
        w.uint(timeoutMs)
        if (opts.leaseMs !== undefined) w.value({ leaseMs: opts.leaseMs })
        else w.nil()
      }),
      opts.signal,
    )
    if (m[2] === null || m[2] === undefined) return null
    return new PoppedJobImpl<P>(this, m[2] as number, m[3] as string, decodeValue(m[4] as Uint8Array) as P, m[5] as number, m[6] as number)
  }

  // ---- watching --------------------------------------------------------------------------------

  /** Streams the job's snapshot, then every event, and ends after the job ended (or was removed). */
  watch<R = unknown>(id: string, opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<WatchEvent<R>> {
    const events = new QueuedIterator<WatchEvent<R>>()
    this.follow(parseId(id), events as QueuedIterator<WatchEvent>, opts.signal)
    return events
  }

  /**
   * Submits a job and waits for its result, in one round trip (submit with `watch`); throws
   * JobFailedError / JobCancelledError if it ends so, BrokerError `timeout` after timeoutMs.
   */
  run<R = unknown, P = unknown>(queue: string, payload: P, opts: SubmitOptions & { timeoutMs?: number } = {}): Promise<R> {
    const bytes = encodeValue(payload)
    const wireOpts = { ...submitWireOpts(opts), watch: true }
    const connLastJob = this.connLastJob
    const outcome = new Outcome<R>('the job', opts)
    let stream: WatchStream | null = null
    const p: Pending = {
      kind: 'submit',
      gen: 0,
      encode: (w, rid, resend) => writeSubmit(w, rid, queue, bytes, wireOpts, resend ? connLastJob : -1),
      // Called synchronously, in frame order: `submitted`, then `snapshot` under the same rid.
      resolve: (m) => {
        const msg = m as unknown[]
        if (msg[0] !== Op.submitted) return stream?.onSnapshot(msg[2] as Record<string, unknown>)
        const jobId = msg[2] as number
        // Timed out or aborted before the job was stored: the broker's watch is not wanted.
        if (outcome.finished) return this.requestUnwatch(jobId)
        outcome.what = `job ${jobId}`
        stream = this.openStream(jobId, outcome)
        p.kind = 'watch' // from now on the stream re-watches by itself after a reconnect
        this.pending.set(rid, p)
      },
      reject: (err) => {
        if (stream === null) outcome.fail(err)
        else if (err.code !== 'connection_lost') stream.fail(err)
      },
    }
    const rid = this.send(p)
    return outcome.promise
  }

  /** Waits for the job's result; throws JobFailedError / JobCancelledError if it ended so. */
  result<R = unknown>(id: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<R> {
    const jobId = parseId(id)
    const outcome = new Outcome<R>(`job ${id}`, opts)
    if (!outcome.finished) this.follow(jobId, outcome)
    return outcome.promise
  }

  /** Opens a stream of the job's events into `sink` and subscribes it now or once connected. */
  private follow(jobId: number, sink: WatchSink, signal?: AbortSignal): void {
    const stream = this.openStream(jobId, sink, signal)
    if (sink.finished) return
    if (this.ready) stream.subscribe()
    else if (this.closed) stream.fail(new BrokerError('closed', 'the client was closed'))
    else if (this.opts.reconnect === false) stream.fail(new BrokerError('connection_lost', 'not connected'))
    // else: subscribed when the connection is back (onWelcome)
  }

  /** The job's current snapshot. */
  async get<R = unknown>(id: string): Promise<JobSnapshot<R>> {
    const jobId = parseId(id)
    const m = await this.request<unknown[]>('idempotent', (w, rid) => w.array(3).uint(Op.get).uint(rid).uint(jobId))
    return toSnapshot(m[2] as Record<string, unknown>) as JobSnapshot<R>
  }

  // ---- managing jobs ---------------------------------------------------------------------------

  /**
   * Cancels a job: a queued or delayed one ends `cancelled` at once; a running one too, and its
   * handler's `ctx.signal` aborts. A job that already ended is left as it is (`cancelled: false`).
   * Re-sent after a reconnect: if the first one was applied, the answer is `cancelled: false`
   * with state `cancelled`.
   */
  cancel(id: string): Promise<{ state: JobState; cancelled: boolean }> {
    return this.jobOp('idempotent', Op.cancel, id)
  }

  /** Sends a failed or cancelled job back to `queued` (same id, attempts reset). */
  async retry(id: string): Promise<void> {
    await this.jobOp('once', Op.retry, id)
  }

  /** Deletes a job that is not active; returns the state it had. */
  remove(id: string): Promise<{ state: JobState }> {
    return this.jobOp('once', Op.remove, id)
  }

  /** One page of a queue's jobs in one state, newest first. */
  async listJobs<R = unknown>(queue: string, opts: ListJobsOptions): Promise<JobPage<R>> {
    const o: Record<string, unknown> = {}
    if (opts.limit !== undefined) o.limit = opts.limit
    if (opts.cursor !== undefined && opts.cursor !== null) o.cursor = parseId(opts.cursor)
    const v = await this.okValue<{ jobs: Array<Record<string, unknown>>; cursor?: number }>('idempotent', (w, rid) => {
      w.array(5).uint(Op.listJobs).uint(rid).str(queue).str(opts.state)
      w.value(o)
    })
    return { jobs: v.jobs.map((j) => toSnapshot(j) as JobSnapshot<R>), cursor: v.cursor === undefined ? null : String(v.cursor) }
  }

  /** Retries a queue's dead letters (failed jobs), oldest first, up to `limit` (default all). */
  async redrive(queue: string, opts: { limit?: number } = {}): Promise<{ count: number }> {
    return this.okValue<{ count: number }>('once', (w, rid) => {
      w.array(4).uint(Op.redrive).uint(rid).str(queue)
      if (opts.limit === undefined) w.nil()
      else w.value({ limit: opts.limit })
    })
  }

  /** Deletes a queue's finished jobs of one state now (instead of after their retention). */
  async purge(queue: string, opts: { state: FinishedState }): Promise<{ count: number }> {
    return this.okValue<{ count: number }>('once', (w, rid) => w.array(4).uint(Op.purge).uint(rid).str(queue).str(opts.state))
  }

  // ---- managing queues -------------------------------------------------------------------------

  /** Stops dispatch from a queue (submits still accepted); persisted. */
  pause(queue: string): Promise<QueueMap> {
    return this.queueOp(Op.pause, queue)
  }

  resume(queue: string): Promise<QueueMap> {
    return this.queueOp(Op.resume, queue)
  }

  /** Changes a queue's settings (a value sets, null resets, absent keeps); creates the queue if needed. */
  async configureQueue(queue: string, settings: QueueSettingsChange): Promise<QueueMap> {
    return this.okValue<QueueMap>('idempotent', (w, rid) => w.array(4).uint(Op.configure).uint(rid).str(queue).value(settings))
  }

  getQueue(queue: string): Promise<QueueMap> {
    return this.queueOp(Op.getQueue, queue)
  }

  /** Queue statistics (one queue, or all). */
  async stats(queue?: string): Promise<Stats> {
    return this.okValue<Stats>('idempotent', (w, rid) => {
      w.array(3).uint(Op.stats).uint(rid)
      if (queue === undefined) w.nil()
      else w.str(queue)
    })
  }

  /** Round trip to the broker. */
  async ping(): Promise<void> {
    await this.request('idempotent', (w, rid) => w.array(2).uint(Op.ping).uint(rid))
  }

  /** A request answered with `ok`: its value. */
  private async okValue<T = unknown>(kind: 'idempotent' | 'once', encode: (w: FrameWriter, rid: number) => void): Promise<T> {
    const m = await this.request<unknown[]>(kind, encode)
    return m[2] as T
  }

  /** `[op, rid, job]`: cancel, retry, remove. The id is checked before anything is sent. */
  private async jobOp<T>(kind: 'idempotent' | 'once', op: number, id: string): Promise<T> {
    const jobId = parseId(id)
    return await this.okValue<T>(kind, (w, rid) => w.array(3).uint(op).uint(rid).uint(jobId))
  }

  /** `[op, rid, queue]`: pause, resume, get_queue (all idempotent). */
  private queueOp(op: number, queue: string): Promise<QueueMap> {
    return this.okValue<QueueMap>('idempotent', (w, rid) => w.array(3).uint(op).uint(rid).str(queue))
  }
}
