// JSON in and out for the HTTP API (protocol/HTTP.md §1 "Values"): a posted JSON payload becomes
// the MessagePack a WebSocket worker decodes to the same value; stored MessagePack (payload,
// result, error, progress) becomes JSON, with `{"$bin"}` / `{"$raw"}` for what JSON cannot hold.

import { decodeValue } from '../../protocol/codec.js'
import { snapshotView, type SnapshotView } from '../../protocol/events.js'

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

/** A broker snapshot as the HTTP API answers it: the SDK's JobSnapshot, values as JSON. */
export function snapshotJson(raw: Record<string, unknown>): SnapshotView {
  return snapshotView(raw, jsonValue)
}
