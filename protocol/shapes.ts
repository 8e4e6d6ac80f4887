// Maps of protocol v1 that both the daemon and the SDKs read or write (PROTOCOL.md §5 backoff,
// §6a queue settings and the queue map): declared once here so the two sides cannot drift.

/** Wait before each retry of a failed delivery. */
export interface Backoff {
  type: 'fixed' | 'exponential'
  /** fixed: every wait; exponential: the first, doubled before each further retry. */
  delayMs: number
  /** Cap of an exponential wait. Default: 365 days. */
  maxDelayMs?: number
  /** 0…1: each wait is multiplied by (1 − jitter × random). Default 0. */
  jitter?: number
}

/** A queue's settings: defaults copied into jobs submitted afterwards, and its length limit. */
export interface QueueSettings {
  /** Most queued + delayed jobs; beyond it submits fail `queue_full` (or wait, `waitMs`). Unset: unlimited. */
  maxLength?: number
  maxAttempts?: number
  backoff?: Backoff
  leaseMs?: number
  retentionMs?: number
}

/** A change of settings (`configure`): a value sets a key, null resets it, an absent key is kept. */
export type QueueSettingsChange = { [K in keyof QueueSettings]?: QueueSettings[K] | null }

/** A queue's counts. */
export interface QueueCounts {
  queued: number
  delayed: number
  active: number
  consumers: number
  /** Finished jobs still retained, per state. */
  completed: number
  failed: number
  cancelled: number
  /** Submits waiting for room (waitMs). */
  waiting: number
}

/** The queue map: `get_queue`, `configure`, `pause`, `resume` and each value of `stats`. */
export interface QueueMap extends QueueCounts {
  name: string
  paused: boolean
  settings: QueueSettings
}
