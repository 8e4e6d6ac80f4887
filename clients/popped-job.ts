// A job taken with pop(): the caller settles it (ack / nack / extend / progress), each awaiting
// the broker's confirmation; its lease went with the connection if that dropped meanwhile.

import type { FrameWriter } from '../protocol/codec.js'
import { encodeValue } from '../protocol/codec.js'
import { Op } from '../protocol/ops.js'
import { errorInfo } from './wire.js'
import type { PoppedJob } from './types.js'

/** What a popped job needs from its connection: a settlement request and its reply. */
export interface Settler {
  settleRequest(encode: (w: FrameWriter, rid: number) => void): Promise<unknown>
}

export class PoppedJobImpl<P> implements PoppedJob<P> {
  readonly id: string
  constructor(
    private readonly connection: Settler,
    private readonly jobId: number,
    readonly queue: string,
    readonly payload: P,
    readonly attempt: number,
    public leaseDeadline: number,
  ) {
    this.id = String(jobId)
  }

  async ack(result?: unknown): Promise<void> {
    const bytes = encodeValue(result)
    await this.connection.settleRequest((w, rid) => w.array(5).uint(Op.ack).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes))
  }

  async nack(error?: unknown, opts: { retry?: boolean; retryAfterMs?: number } = {}): Promise<void> {
    const bytes = encodeValue(errorInfo(error))
    const o: Record<string, unknown> = {}
    if (opts.retry !== undefined) o.retry = opts.retry
    if (opts.retryAfterMs !== undefined) o.retryAfterMs = opts.retryAfterMs
    await this.connection.settleRequest((w, rid) => {
      w.array(6).uint(Op.nack).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes)
      if (Object.keys(o).length === 0) w.nil()
      else w.value(o)
    })
  }

  async extend(ms: number): Promise<void> {
    const m = (await this.connection.settleRequest((w, rid) =>
      w.array(5).uint(Op.extend).uint(rid).uint(this.jobId).uint(this.attempt).uint(ms),
    )) as unknown[]
    this.leaseDeadline = m[2] as number
  }

  async progress(value: unknown): Promise<void> {
    const bytes = encodeValue(value)
    await this.connection.settleRequest((w, rid) => w.array(5).uint(Op.progress).uint(rid).uint(this.jobId).uint(this.attempt).bin(bytes))
  }
}
