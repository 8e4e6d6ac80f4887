// A consumer: one `consume` (or one `pop`) of one connection, over one or more queues in priority
// order. It is the credit ledger: the broker never has more than `credit` unsettled deliveries out
// to it. Actors read it and change `inflight`; only the session changes credit or stops it.

import type { JobRef } from './job.js'
import type { QueueActor } from './queue-actor.js'

/** What an actor needs from the connection a consumer belongs to. */
export interface DeliveryTarget {
  /** The socket has too much unsent data: do not feed it until it drains. */
  readonly slow: boolean
  /** Writes the delivery (or the `popped` reply) and records the lease as held by this connection. */
  deliver(consumer: Consumer, job: JobRef, payload: Uint8Array, leaseMs: number): void
  /** The connection no longer holds this job's lease (settled, expired). */
  forget(job: JobRef): void
  /** The job held by this delivery was cancelled: tell the worker to stop its handler. */
  revoke(consumer: Consumer, job: JobRef): void
}

export class Consumer {
  inflight = 0
  stopped = false
  /** Bit i set: parked in the waiting list of actors[i]. */
  parkedMask = 0
  /** For pop: the one-shot timeout timer. */
  timer: ReturnType<typeof setTimeout> | null = null

  constructor(
    readonly id: number,
    readonly target: DeliveryTarget,
    readonly actors: QueueActor[],
    public credit: number,
    /** Lease of each delivery unless the job sets its own. */
    readonly leaseMs: number,
    /** Non-zero for a one-shot pop: the request id the job is `popped` to. */
    readonly popRid = 0,
  ) {}

  /** Can take a delivery right now. */
  get ready(): boolean {
    return !this.stopped && this.inflight < this.credit && !this.target.slow
  }
}
