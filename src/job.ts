// The in-memory record of one job while it is dispatched or held: small, not growing with the
// payload (`payload` holds the bytes only while they fit the broker's payload cache, else the
// store has them). Delayed jobs and ready jobs beyond the cache have no JobRef, only their id.

import type { StateCode } from './lifecycle.js'
import { State } from './lifecycle.js'
import type { Backoff } from './backoff.js'
import type { Consumer } from './consumer.js'
import type { QueueActor } from './queue-actor.js'

export class JobRef {
  state: StateCode = State.queued
  /** The consumer holding the current delivery (active, or cancelled while active), else null. */
  consumer: Consumer | null = null
  leaseDeadline = 0
  /** Last progress value of the current delivery (memory only, for snapshots). */
  progress: Uint8Array | null = null

  constructor(
    readonly id: number,
    readonly actor: QueueActor,
    /** Deliveries that ended (failed ones); the next delivery is number attempts + 1. */
    public attempts: number,
    readonly maxAttempts: number,
    /** 0: the consumer's / broker's lease. */
    readonly leaseMs: number,
    /** -1: the broker's retention. */
    readonly retentionMs: number,
    /** Cached payload bytes, or null: read from the store at dispatch. */
    public payload: Uint8Array | null,
    /** Higher runs first (−1000…1000). */
    readonly priority: number,
    /** Wait before each retry; null: retry at once. */
    readonly backoff: Backoff | null,
  ) {}
}
