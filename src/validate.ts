// Field readers for decoded messages: each returns the typed value or throws a BrokerError with a
// message naming the field, so every bad input gets `bad_request` (or `payload_too_large`)
// instead of reaching broker state.

import { BrokerError } from '../protocol/errors.js'
import { Limits, QUEUE_NAME_RE, STATE_NAMES } from '../protocol/ops.js'
import { utf8Length } from '../protocol/codec.js'
import { DEFAULT_SUBMIT, type SubmitOptions } from './broker.js'
import type { Backoff } from './backoff.js'
import { SETTING_KEYS, type SettingKey, type QueueSettingsChange } from './queue-settings.js'

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

export function checkQueueName(v: string, name: string): string {
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
  return mapOf(v, allowed, `options (field ${i})`)
}

/** A map (a JSON object, over HTTP) whose keys are all in `allowed`; `what` names it in errors. */
export function mapOf(v: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (!isMap(v)) badRequest(`${what} must be a map (a JSON object)`)
  for (const k of Object.keys(v))
    if (!allowed.includes(k)) badRequest(`${what}: unknown field '${k}'; this broker knows: ${allowed.join(', ')}`)
  return v
}

/** A MessagePack map (not an array, not bin). */
function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** An integer option in min…max; `fallback` when the map or the key is absent (or nil). */
export function optInt(o: Record<string, unknown> | null, key: string, min: number, max: number, fallback: number): number {
  const v = o?.[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    badRequest(`option ${key} must be an integer between ${min} and ${max}`)
  return v
}

export function optBool(o: Record<string, unknown> | null, key: string, fallback: boolean): boolean {
  const v = o?.[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') badRequest(`option ${key} must be a boolean`)
  return v
}

export function optLease(o: Record<string, unknown> | null, fallback: number): number {
  return optInt(o, 'leaseMs', Limits.minLeaseMs, Limits.maxLeaseMs, fallback)
}

export const SUBMIT_KEYS = [
  'maxAttempts',
  'leaseMs',
  'key',
  'retentionMs',
  'resendAfter',
  'watch',
  'delayMs',
  'runAt',
  'priority',
  'backoff',
  'waitMs',
] as const

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
  const delayMs = optInt(o, 'delayMs', 0, Limits.maxDelayMs, -1)
  let runAt = optInt(o, 'runAt', 0, Number.MAX_SAFE_INTEGER, -1)
  const now = Date.now()
  if (delayMs >= 0) {
    if (runAt >= 0) badRequest('options delayMs and runAt exclude each other: give one')
    runAt = delayMs === 0 ? 0 : now + delayMs
  } else if (runAt > now + Limits.maxDelayMs) badRequest(`option runAt is more than ${Limits.maxDelayMs} ms (365 days) ahead`)
  else if (runAt <= now) runAt = 0 // in the past: runs now
  return {
    maxAttempts: optInt(o, 'maxAttempts', 1, Limits.maxAttempts, 0),
    leaseMs: optInt(o, 'leaseMs', Limits.minLeaseMs, Limits.maxLeaseMs, 0),
    retentionMs: optInt(o, 'retentionMs', 0, Limits.maxRetentionMs, -1),
    key: typeof key === 'string' ? key : null,
    resendAfter: optInt(o, 'resendAfter', 0, Number.MAX_SAFE_INTEGER, -1),
    watch: optBool(o, 'watch', false),
    runAt: Math.max(0, runAt),
    priority: optInt(o, 'priority', Limits.minPriority, Limits.maxPriority, 0),
    backoff: o.backoff === undefined || o.backoff === null ? null : parseBackoff(o.backoff, 'option backoff'),
    waitMs: optInt(o, 'waitMs', 0, Limits.maxWaitMs, 0),
  }
}

const BACKOFF_KEYS = ['type', 'delayMs', 'maxDelayMs', 'jitter']

/** A backoff map: `{ type: 'fixed' | 'exponential', delayMs, maxDelayMs?, jitter? }`. */
export function parseBackoff(v: unknown, name: string): Backoff {
  if (!isMap(v)) badRequest(`${name} must be a map { type: 'fixed' | 'exponential', delayMs, maxDelayMs?, jitter? }`)
  const o = v
  for (const k of Object.keys(o))
    if (!BACKOFF_KEYS.includes(k)) badRequest(`${name}: unknown key '${k}'; known: ${BACKOFF_KEYS.join(', ')}`)
  if (o.type !== 'fixed' && o.type !== 'exponential') badRequest(`${name}.type must be 'fixed' or 'exponential'`)
  if (o.delayMs === undefined || o.delayMs === null) badRequest(`${name}.delayMs is missing`)
  const b: Backoff = { type: o.type, delayMs: optInt(o, 'delayMs', 0, Limits.maxDelayMs, 0) }
  const maxDelayMs = optInt(o, 'maxDelayMs', 0, Limits.maxDelayMs, -1)
  if (maxDelayMs >= 0) b.maxDelayMs = maxDelayMs
  const jitter = o.jitter
  if (jitter !== undefined && jitter !== null) {
    if (typeof jitter !== 'number' || !Number.isFinite(jitter) || jitter < 0 || jitter > 1)
      badRequest(`${name}.jitter must be a number from 0 to 1`)
    if (jitter > 0) b.jitter = jitter
  }
  return b
}

/** The settings map of `configure`: known keys only; nil resets a key (PROTOCOL.md §6a). */
export function settingsAt(m: unknown[], i: number): QueueSettingsChange {
  const v = m[i]
  if (!isMap(v)) badRequest(`settings (field ${i}) must be a map of ${SETTING_KEYS.join(', ')}`)
  const o = v
  const change: QueueSettingsChange = {}
  for (const k of Object.keys(o)) {
    if (!(SETTING_KEYS as readonly string[]).includes(k))
      badRequest(`unknown setting '${k}'; this broker knows: ${SETTING_KEYS.join(', ')}`)
    const key = k as SettingKey
    if (o[k] === null || o[k] === undefined) {
      change[key] = null
      continue
    }
    switch (key) {
      case 'maxLength':
        change.maxLength = optInt(o, k, 1, Limits.maxLength, 0)
        break
      case 'maxAttempts':
        change.maxAttempts = optInt(o, k, 1, Limits.maxAttempts, 0)
        break
      case 'leaseMs':
        change.leaseMs = optInt(o, k, Limits.minLeaseMs, Limits.maxLeaseMs, 0)
        break
      case 'retentionMs':
        change.retentionMs = optInt(o, k, 0, Limits.maxRetentionMs, 0)
        break
      case 'backoff':
        change.backoff = parseBackoff(o[k], 'setting backoff')
        break
    }
  }
  return change
}

/** nack's options: `retry` (default true) and `retryAfterMs` (-1 when absent). */
export function nackOptsAt(m: unknown[], i: number): { retry: boolean; retryAfterMs: number } {
  const o = optsAt(m, i, ['retry', 'retryAfterMs'])
  if (o === null) return { retry: true, retryAfterMs: -1 }
  return { retry: optBool(o, 'retry', true), retryAfterMs: optInt(o, 'retryAfterMs', 0, Limits.maxDelayMs, -1) }
}

/** A job state name (for list_jobs and purge), limited to `allowed`. */
export function stateAt(m: unknown[], i: number, allowed: readonly string[]): number {
  return stateCode(m[i], allowed, `state (field ${i})`)
}

/** A job state name limited to `allowed`, as its numeric code. */
export function stateCode(v: unknown, allowed: readonly string[], what: string): number {
  const code = typeof v === 'string' && allowed.includes(v) ? (STATE_NAMES as readonly string[]).indexOf(v) : -1
  if (code < 0) badRequest(`${what} must be one of ${allowed.join(', ')}`)
  return code
}
