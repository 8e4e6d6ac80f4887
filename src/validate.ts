// Field readers for decoded messages: each returns the typed value or throws a BrokerError with a
// message naming the field, so every bad input gets `bad_request` (or `payload_too_large`)
// instead of reaching broker state.

import { BrokerError } from '../protocol/errors.js'
import { Limits, QUEUE_NAME_RE } from '../protocol/ops.js'
import { utf8Length } from '../protocol/codec.js'
import { DEFAULT_SUBMIT, type SubmitOptions } from './broker.js'

export function badRequest(message: string): never {
  throw new BrokerError('bad_request', message)
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

export function uintAt(m: unknown[], i: number, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = m[i]
  if (!isUint(v)) badRequest(`${name} (field ${i}) must be an unsigned integer`)
  if (v < min || v > max) badRequest(`${name} must be between ${min} and ${max}, got ${v}`)
  return v
}

export function queueAt(m: unknown[], i: number, name = 'queue'): string {
  const v = m[i]
  if (typeof v !== 'string') badRequest(`${name} (field ${i}) must be a string`)
  return checkQueueName(v, name)
}

function checkQueueName(v: string, name: string): string {
  if (!QUEUE_NAME_RE.test(v))
    badRequest(`${name} must be 1-${Limits.maxQueueName} characters of [A-Za-z0-9_.:-], got ${JSON.stringify(v.slice(0, 40))}`)
  return v
}

export function queuesAt(m: unknown[], i: number): string[] {
  const v = m[i]
  if (!Array.isArray(v) || v.length === 0 || v.length > Limits.maxQueuesPerConsumer)
    badRequest(`queues (field ${i}) must be an array of 1-${Limits.maxQueuesPerConsumer} queue names`)
  const seen = new Set<string>()
  for (const q of v) {
    if (typeof q !== 'string') badRequest('queues must hold strings')
    checkQueueName(q, 'queue')
    if (seen.has(q)) badRequest(`queue ${q} is listed twice`)
    seen.add(q)
  }
  return v as string[]
}

/** A `bin` field holding an opaque MessagePack value, at most `maxBytes` long. */
export function binAt(m: unknown[], i: number, name: string, maxBytes: number, optional: boolean): Uint8Array | null {
  const v = m[i]
  if (v === null || v === undefined) {
    if (optional) return null
    badRequest(`${name} (field ${i}) is missing: send the MessagePack encoding of a value as bin`)
  }
  if (!(v instanceof Uint8Array)) badRequest(`${name} (field ${i}) must be bin (the MessagePack encoding of a value)`)
  if (v.length > maxBytes)
    throw new BrokerError('payload_too_large', `${name} is ${v.length} bytes; the limit is ${maxBytes} (--max-payload)`)
  return v
}

/** An options map (or nil) whose keys must all be in `allowed`. */
export function optsAt(m: unknown[], i: number, allowed: readonly string[]): Record<string, unknown> | null {
  const v = m[i]
  if (v === null || v === undefined) return null
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) badRequest(`options (field ${i}) must be a map`)
  for (const k of Object.keys(v)) if (!allowed.includes(k)) badRequest(`unknown option '${k}'; this broker knows: ${allowed.join(', ')}`)
  return v as Record<string, unknown>
}

function optUint(o: Record<string, unknown>, key: string, min: number, max: number, fallback: number): number {
  const v = o[key]
  if (v === undefined || v === null) return fallback
  if (!isUint(v) || v < min || v > max) badRequest(`option ${key} must be an integer between ${min} and ${max}`)
  return v
}

export function optBool(o: Record<string, unknown> | null, key: string, fallback: boolean): boolean {
  const v = o?.[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') badRequest(`option ${key} must be a boolean`)
  return v
}

export function optLease(o: Record<string, unknown> | null, fallback: number): number {
  return o === null ? fallback : optUint(o, 'leaseMs', Limits.minLeaseMs, Limits.maxLeaseMs, fallback)
}

export const SUBMIT_KEYS = ['maxAttempts', 'leaseMs', 'key', 'retentionMs', 'resendAfter', 'watch'] as const

export function submitOptsAt(m: unknown[], i: number): SubmitOptions {
  const o = optsAt(m, i, SUBMIT_KEYS)
  if (o === null) return DEFAULT_SUBMIT
  return parseSubmitOpts(o)
}

export function parseSubmitOpts(o: Record<string, unknown>): SubmitOptions {
  const key = o.key
  if (key !== undefined && key !== null) {
    if (typeof key !== 'string' || key.length === 0 || utf8Length(key) > Limits.maxKey)
      badRequest(`option key must be a string of 1-${Limits.maxKey} bytes`)
  }
  return {
    maxAttempts: optUint(o, 'maxAttempts', 1, Limits.maxAttempts, DEFAULT_SUBMIT.maxAttempts),
    leaseMs: optUint(o, 'leaseMs', Limits.minLeaseMs, Limits.maxLeaseMs, 0),
    retentionMs: optUint(o, 'retentionMs', 0, Limits.maxRetentionMs, -1),
    key: typeof key === 'string' ? key : null,
    resendAfter: optUint(o, 'resendAfter', 0, Number.MAX_SAFE_INTEGER, -1),
    watch: optBool(o, 'watch', false),
  }
}
