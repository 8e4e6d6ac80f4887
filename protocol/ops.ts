// Protocol v1 constants shared by the daemon and the SDKs: op codes, error codes, limits, close
// codes. protocol/PROTOCOL.md is the source of truth; this file mirrors its tables.

export const PROTOCOL_VERSION = 1
export const WS_PATH = '/v1'

/** Client → broker ops (PROTOCOL.md §3). */
export const Op = {
  hello: 1,
  submit: 2,
  submitMany: 3,
  consume: 4,
  credit: 5,
  stop: 6,
  ack: 7,
  nack: 8,
  extend: 9,
  progress: 10,
  pop: 11,
  watch: 12,
  unwatch: 13,
  get: 14,
  stats: 15,
  ping: 16,
  cancel: 17,
  retry: 18,
  remove: 19,
  listJobs: 20,
  redrive: 21,
  purge: 22,
  pause: 23,
  resume: 24,
  configure: 25,
  getQueue: 26,
  // broker → client
  welcome: 64,
  ok: 65,
  error: 66,
  submitted: 67,
  deliver: 68,
  popped: 69,
  snapshot: 70,
  event: 71,
  revoke: 72,
} as const

/** Stable error codes (PROTOCOL.md §7), shared by daemon and SDK. */
export const ErrorCode = {
  badFrame: 'bad_frame',
  badRequest: 'bad_request',
  unknownOp: 'unknown_op',
  unauthorized: 'unauthorized',
  unsupportedVersion: 'unsupported_version',
  payloadTooLarge: 'payload_too_large',
  notFound: 'not_found',
  leaseExpired: 'lease_expired',
  shuttingDown: 'shutting_down',
  internal: 'internal',
  queueFull: 'queue_full',
  conflict: 'conflict',
} as const
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode]

/** WebSocket close codes the broker uses. */
export const CloseCode = {
  goingAway: 1001,
  unauthorized: 4001,
  noHello: 4002,
  unsupportedVersion: 4003,
} as const

export const Limits = {
  maxPayload: 1024 * 1024,
  /** Frame limit = 16 MiB of messages + one maximal payload's worth of headroom. */
  frameBase: 16 * 1024 * 1024,
  maxCredit: 100_000,
  maxQueuesPerConsumer: 16,
  maxBatch: 10_000,
  maxQueueName: 128,
  maxKey: 256,
  maxAttempts: 1_000,
  minLeaseMs: 1_000,
  maxLeaseMs: 86_400_000,
  maxPopTimeoutMs: 3_600_000,
  maxRetentionMs: 2_592_000_000,
  minPriority: -1_000,
  maxPriority: 1_000,
  /** Longest delay: delayMs, runAt − now, a backoff wait, retryAfterMs (365 days). */
  maxDelayMs: 31_536_000_000,
  maxWaitMs: 3_600_000,
  /** Submits waiting for room in one full queue. */
  maxWaitingSubmits: 10_000,
  maxLength: 1_000_000_000,
  maxListLimit: 1_000,
  defaultListLimit: 100,
  maxRedrive: 1_000_000,
} as const

/** Job states on the wire, indexed by the numeric state code used in the store. */
export const STATE_NAMES = ['queued', 'active', 'completed', 'failed', 'delayed', 'cancelled'] as const
/** A job state (PROTOCOL.md §6); `completed`, `failed` and `cancelled` are terminal. */
export type JobState = (typeof STATE_NAMES)[number]

/** The terminal states: the ones `purge` takes. */
export const FINISHED_STATES = ['completed', 'failed', 'cancelled'] as const satisfies readonly JobState[]
export type FinishedState = (typeof FINISHED_STATES)[number]

/** Kinds of job events (PROTOCOL.md §6 events); a watch ends after a terminal one or `removed`. */
export type EventType = 'queued' | 'delayed' | 'active' | 'progress' | 'retrying' | 'completed' | 'failed' | 'cancelled' | 'removed'

export const QUEUE_NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/
