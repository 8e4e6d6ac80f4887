// JSON in and out for the HTTP API (protocol/HTTP.md §1 "Values"): a posted JSON payload becomes
// the MessagePack a WebSocket worker decodes to the same value; stored MessagePack (payload,
// result, error, progress) becomes JSON, with `{"$bin"}` / `{"$raw"}` for what JSON cannot hold.

import { decodeValue } from '../../protocol/codec.js'

/** The stored MessagePack bytes of a value as a JSON-ready value. */
export function jsonValue(bytes: Uint8Array): unknown {
  let v: unknown
  try {
    v = decodeValue(bytes)
  } catch {
    return { $raw: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') }
  }
  return jsonSafe(v)
}

function jsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
  if (Array.isArray(v)) return v.map(jsonSafe)
  if (typeof v === 'object' && v !== null && !(v instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = jsonSafe(x)
    return out
  }
  if (typeof v === 'bigint') return v.toString()
  return v
}

const VALUE_FIELDS = ['result', 'error', 'progress'] as const

/** A broker snapshot (PROTOCOL.md §6) as the HTTP API answers it: string id, decoded values. */
export function snapshotJson(snap: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...snap, id: String(snap.id) }
  for (const f of VALUE_FIELDS) if (snap[f] instanceof Uint8Array) out[f] = jsonValue(snap[f])
  return out
}

/** An `event` message [71, job, type, state, attempt, data?, at, runAt?] as the SDK's WatchEvent. */
export function eventJson(m: unknown[]): Record<string, unknown> {
  const type = m[2] as string
  const ev: Record<string, unknown> = { type, id: String(m[1]), state: m[3], attempt: m[4], at: m[6] }
  if (typeof m[7] === 'number') ev.runAt = m[7]
  if (m[5] instanceof Uint8Array) ev[type === 'completed' ? 'result' : type === 'progress' ? 'progress' : 'error'] = jsonValue(m[5])
  return ev
}

/** A snapshot as the first event of a watch (the SDK's `snapshot` WatchEvent). */
export function snapshotEvent(snap: Record<string, unknown>): Record<string, unknown> {
  const s = snapshotJson(snap)
  const ev: Record<string, unknown> = { type: 'snapshot', id: s.id, state: s.state, attempt: s.attempt, at: s.finishedAt ?? s.createdAt }
  for (const f of ['runAt', ...VALUE_FIELDS]) if (s[f] !== undefined) ev[f] = s[f]
  return ev
}
