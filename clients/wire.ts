// The SDK's side of the wire format: options and ids in, snapshots and events out (PROTOCOL.md
// §3, §5, §6). Pure functions over FrameWriter and decoded messages; nothing here holds state.

import { FrameWriter, decodeValue } from '../protocol/codec.js'
import { BrokerError } from '../protocol/errors.js'
import { Limits, Op } from '../protocol/ops.js'
import { eventView, snapshotView } from '../protocol/events.js'
import type { ErrorInfo, JobSnapshot, SubmitOptions, WatchEvent } from './types.js'

/** A `submit` message; `resendAfter` ≥ 0 marks a re-send after a reconnect (PROTOCOL.md §5). */
export function writeSubmit(
  w: FrameWriter,
  rid: number,
  queue: string,
  payload: Uint8Array,
  opts: Record<string, unknown> | null,
  resendAfter: number,
): void {
  w.array(5).uint(Op.submit).uint(rid).str(queue).bin(payload)
  const o = resendAfter >= 0 ? { ...opts, resendAfter } : opts
  if (o === null) w.nil()
  else w.value(o)
}

/** The wire options map of a submit (null when it has none: the common, fastest case). */
export function submitWireOpts(o: SubmitOptions): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null
  if (o.maxAttempts !== undefined) (out ??= {}).maxAttempts = o.maxAttempts
  if (o.leaseMs !== undefined) (out ??= {}).leaseMs = o.leaseMs
  if (o.key !== undefined) (out ??= {}).key = o.key
  if (o.retentionMs !== undefined) (out ??= {}).retentionMs = o.retentionMs
  if (o.delayMs !== undefined) (out ??= {}).delayMs = o.delayMs
  if (o.runAt !== undefined) (out ??= {}).runAt = o.runAt instanceof Date ? o.runAt.getTime() : o.runAt
  if (o.priority !== undefined && o.priority !== 0) (out ??= {}).priority = o.priority
  if (o.backoff !== undefined) (out ??= {}).backoff = o.backoff
  if (o.waitMs !== undefined) (out ??= {}).waitMs = o.waitMs
  return out
}

export function parseId(id: string | number): number {
  const n = typeof id === 'number' ? id : Number(id)
  if (!Number.isSafeInteger(n) || n < 1) throw new BrokerError('bad_request', `not a job id: ${String(id)}`)
  return n
}

/** Turns a thrown value into the error map stored with the job. */
export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const info: ErrorInfo = { message: err.message, name: err.name }
    if (err.stack !== undefined) info.stack = err.stack
    return info
  }
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return err as ErrorInfo
  return { message: err === undefined ? 'nacked' : String(err) }
}

/**
 * The nack options a thrown error asks for: `retry = false`, `retryAfterMs` (capped at the
 * protocol's longest delay: the nack is sent unanswered, so a refused one would hold the job
 * until its lease ends); null for none.
 */
export function nackOptions(err: unknown): Record<string, unknown> | null {
  if (typeof err !== 'object' || err === null) return null
  const e = err as { retry?: unknown; retryAfterMs?: unknown }
  let out: Record<string, unknown> | null = null
  if (e.retry === false) (out ??= {}).retry = false
  if (typeof e.retryAfterMs === 'number' && Number.isSafeInteger(e.retryAfterMs) && e.retryAfterMs >= 0)
    (out ??= {}).retryAfterMs = Math.min(e.retryAfterMs, Limits.maxDelayMs)
  return out
}

/** An `event` message as the SDK's WatchEvent (values decoded to JavaScript). */
export function toEvent(m: unknown[]): WatchEvent {
  return eventView(m, decodeValue) as WatchEvent
}

/** A `snapshot` map as the SDK's JobSnapshot (values decoded to JavaScript). */
export function toSnapshot(raw: Record<string, unknown>): JobSnapshot {
  return snapshotView(raw, decodeValue) as JobSnapshot
}

/** `p`, rejected with BrokerError `aborted` when `signal` aborts first. */
export function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  if (signal.aborted) return Promise.reject(new BrokerError('aborted', 'aborted'))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BrokerError('aborted', 'aborted (the request may still be applied by the broker)'))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
