// Public types of the TypeScript SDK. Everything a user touches is declared here (or, for maps the
// daemon shares, in protocol/shapes.ts), with its defaults documented where it is declared.

import type { Backoff, QueueMap } from '../protocol/shapes.js'
import type { EventView, SnapshotView } from '../protocol/events.js'
import type { EventType as JobEventType, JobState } from '../protocol/ops.js'
export type { Backoff, QueueCounts, QueueMap, QueueSettings, QueueSettingsChange } from '../protocol/shapes.js'
export type { FinishedState, JobState } from '../protocol/ops.js'

/**
 * Kinds of watch events; `snapshot` is the first item of every watch (the state right now). A
 * watch ends after `completed`, `failed`, `cancelled` or `removed` (the job was deleted).
 */
export type EventType = 'snapshot' | JobEventType

export interface ConnectOptions {
  /** Shared secret, when the broker runs with --auth-token. */
  token?: string
  /** Reconnect with exponential backoff when the connection drops. Default true. */
  reconnect?: boolean
  /** Upper bound of the reconnect backoff. Default 5,000 ms. */
  maxReconnectDelayMs?: number
  /** Give up connecting (the first time) after this long. Default 10,000 ms. */
  connectTimeoutMs?: number
  /** Errors not tied to a call you made (e.g. a pipelined ack refused as lease_expired). */
  onError?: (err: import('../protocol/errors.js').BrokerError) => void
}

export interface SubmitOptions {
  /** Deliveries that may fail before the job ends `failed`. Default: the queue's setting, else 3. */
  maxAttempts?: number
  /** Lease of each delivery of this job, in ms. Default: the queue's setting, else the consumer's / broker's lease. */
  leaseMs?: number
  /** Idempotency key, unique per queue: submitting twice returns the same job id. */
  key?: string
  /** How long the finished job and its result are kept. Default: the queue's setting, else --retention-ms. */
  retentionMs?: number
  /** Start `delayed`; queued this many ms from now (0…365 days). Not together with runAt. */
  delayMs?: number
  /** Start `delayed`; queued at this time (ms since epoch, or a Date; the past means now). */
  runAt?: number | Date
  /** −1000…1000, higher runs first; FIFO within one priority. Default 0. */
  priority?: number
  /** Wait before each retry. Default: the queue's setting, else retry at once. */
  backoff?: Backoff
  /** When the queue is full (maxLength), wait up to this long for room instead of failing queue_full. Default 0. */
  waitMs?: number
  signal?: AbortSignal
}

export interface Submitted {
  id: string
  /** true when the key (or a re-send after reconnect) matched an existing job. */
  duplicate: boolean
}

/** A delivered job, as a handler sees it. */
export interface Job<P = unknown> {
  id: string
  queue: string
  payload: P
  /** 1 for the first delivery; +1 for each failed one (nack, lease expiry, worker lost). */
  attempt: number
  /** Lease deadline, ms since epoch (broker clock). The SDK extends it while the handler runs. */
  leaseDeadline: number
}

export interface JobContext {
  /** Publishes a progress value to watchers of the job (fire and forget). */
  progress(value: unknown): void
  /** Extends the lease to now + ms (the SDK already does this automatically). */
  extend(ms: number): Promise<void>
  /**
   * Aborted when the job is cancelled (`signal.reason` is a JobCancelledError) or the delivery is
   * lost (lease expired, connection lost: a BrokerError). Whatever the handler returns after that
   * is discarded.
   */
  signal: AbortSignal
}

export type Handler<P = unknown, R = unknown> = (job: Job<P>, ctx: JobContext) => Promise<R> | R

export interface ConsumeOptions {
  /** Jobs run at once by this worker: the credit granted to the broker. Default 1. */
  concurrency?: number
  /** Lease of each delivery, in ms. Default: the broker's --lease-ms. */
  leaseMs?: number
  /** Extend the lease automatically while a handler runs. Default true. */
  autoExtend?: boolean
}

export interface Worker {
  /** Handlers running right now. */
  readonly running: number
  /** Changes the concurrency (credit) at once. */
  setConcurrency(n: number): void
  /** Stops taking jobs, waits for running handlers, settles them. */
  close(): Promise<void>
}

/** A job taken with pop(): settle it yourself. */
export interface PoppedJob<P = unknown> extends Job<P> {
  ack(result?: unknown): Promise<void>
  /** `retry: false` fails the job now; `retryAfterMs` sets the wait before this retry. */
  nack(error?: unknown, opts?: { retry?: boolean; retryAfterMs?: number }): Promise<void>
  extend(ms: number): Promise<void>
  progress(value: unknown): Promise<void>
}

export interface PopOptions {
  /** How long to wait for a job; null is returned after it. Default 0 (do not wait). */
  timeoutMs?: number
  leaseMs?: number
  signal?: AbortSignal
}

export interface ErrorInfo {
  message: string
  name?: string
  stack?: string
  [k: string]: unknown
}

/** One item of watch(): the snapshot first, then the job's events (protocol/events.ts). */
export interface WatchEvent<R = unknown> extends Omit<EventView, 'result' | 'error'> {
  result?: R
  error?: ErrorInfo
}

/** A job as get() / listJobs() show it (protocol/events.ts). */
export interface JobSnapshot<R = unknown> extends Omit<SnapshotView, 'result' | 'error'> {
  result?: R
  error?: ErrorInfo
}

export interface Stats {
  queues: Record<string, QueueMap>
}

/** One page of listJobs. */
export interface JobPage<R = unknown> {
  /** Newest first. */
  jobs: Array<JobSnapshot<R>>
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  cursor: string | null
}

export interface ListJobsOptions {
  state: JobState
  /** 1…1000. Default 100. */
  limit?: number
  cursor?: string | null
}
