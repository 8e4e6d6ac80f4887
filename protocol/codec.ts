// The wire codec shared by the daemon and the SDKs: a frame is one or more MessagePack arrays
// concatenated. FrameWriter appends messages to one growable buffer (no per-message arrays or
// Buffers on the hot path); decodeFrame turns a received frame into its messages.

import { C1, Packr, Unpackr } from 'msgpackr'

/** Plain MessagePack (no msgpackr records/extensions) so any language can read what we write. */
export const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: true, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

/** Encodes any value to MessagePack bytes (used for opaque payload/result/progress/error). */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value)
}

/** Decodes the MessagePack bytes of an opaque value. */
export function decodeValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes)
}

/**
 * Decodes every message of a frame. Throws on anything that is not a sequence of complete
 * MessagePack values: the caller answers `bad_frame` and applies none of the frame.
 */
export function decodeFrame(frame: Uint8Array): unknown[] {
  const messages = unpackr.unpackMultiple(frame) as unknown[]
  // msgpackr reads the never-used byte 0xc1 as a marker value instead of failing.
  for (let i = 0; i < messages.length; i++) if (messages[i] === C1) throw new Error('byte 0xc1 is not MessagePack')
  return messages
}

/** Buffer's undocumented-but-stable fast UTF-8 writer (skips argument parsing). */
interface NodeUtf8Writer {
  utf8Write(s: string, offset: number, length: number): number
}

const textEncoder = new TextEncoder()
const hasBuffer = typeof Buffer !== 'undefined'

/** UTF-8 byte length of a string, without allocating. */
export function utf8Length(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c < 0xdc00 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2 // surrogate pair: 4 bytes for 2 units
      i++
    } else n += 2
  }
  return n
}

/**
 * Appends MessagePack to one growable byte buffer. Writers are reused across frames: `take()`
 * returns the bytes written since the last take as a view (valid until the next write), `copy()`
 * as an independent copy.
 */
export class FrameWriter {
  buf: Uint8Array
  view: DataView
  pos = 0

  constructor(initialSize = 1024) {
    this.buf = hasBuffer ? Buffer.allocUnsafe(initialSize) : new Uint8Array(initialSize)
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
  }

  get length(): number {
    return this.pos
  }

  private grow(need: number): void {
    let size = this.buf.length * 2
    while (size < this.pos + need) size *= 2
    const next = hasBuffer ? Buffer.allocUnsafe(size) : new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength)
  }

  private room(need: number): void {
    if (this.pos + need > this.buf.length) this.grow(need)
  }

  array(n: number): this {
    this.room(5)
    if (n < 16) this.buf[this.pos++] = 0x90 | n
    else if (n < 0x10000) {
      this.buf[this.pos] = 0xdc
      this.view.setUint16(this.pos + 1, n)
      this.pos += 3
    } else {
      this.buf[this.pos] = 0xdd
      this.view.setUint32(this.pos + 1, n)
      this.pos += 5
    }
    return this
  }

  map(n: number): this {
    this.room(5)
    if (n < 16) this.buf[this.pos++] = 0x80 | n
    else if (n < 0x10000) {
      this.buf[this.pos] = 0xde
      this.view.setUint16(this.pos + 1, n)
      this.pos += 3
    } else {
      this.buf[this.pos] = 0xdf
      this.view.setUint32(this.pos + 1, n)
      this.pos += 5
    }
    return this
  }

  /** A non-negative integer below 2^53, in its shortest form. */
  uint(v: number): this {
    this.room(9)
    const b = this.buf
    if (v < 0x80) b[this.pos++] = v
    else if (v < 0x100) {
      b[this.pos] = 0xcc
      b[this.pos + 1] = v
      this.pos += 2
    } else if (v < 0x10000) {
      b[this.pos] = 0xcd
      this.view.setUint16(this.pos + 1, v)
      this.pos += 3
    } else if (v < 0x100000000) {
      b[this.pos] = 0xce
      this.view.setUint32(this.pos + 1, v)
      this.pos += 5
    } else {
      b[this.pos] = 0xcf
      this.view.setUint32(this.pos + 1, Math.floor(v / 0x100000000))
      this.view.setUint32(this.pos + 5, v >>> 0)
      this.pos += 9
    }
    return this
  }

  nil(): this {
    this.room(1)
    this.buf[this.pos++] = 0xc0
    return this
  }

  bool(v: boolean): this {
    this.room(1)
    this.buf[this.pos++] = v ? 0xc3 : 0xc2
    return this
  }

  str(s: string): this {
    const n = utf8Length(s)
    this.room(n + 5)
    const b = this.buf
    if (n < 32) b[this.pos++] = 0xa0 | n
    else if (n < 0x100) {
      b[this.pos] = 0xd9
      b[this.pos + 1] = n
      this.pos += 2
    } else if (n < 0x10000) {
      b[this.pos] = 0xda
      this.view.setUint16(this.pos + 1, n)
      this.pos += 3
    } else {
      b[this.pos] = 0xdb
      this.view.setUint32(this.pos + 1, n)
      this.pos += 5
    }
    if (hasBuffer) (b as unknown as NodeUtf8Writer).utf8Write(s, this.pos, n)
    else textEncoder.encodeInto(s, b.subarray(this.pos, this.pos + n))
    this.pos += n
    return this
  }

  bin(data: Uint8Array): this {
    const n = data.length
    this.room(n + 5)
    if (n < 0x100) {
      this.buf[this.pos] = 0xc4
      this.buf[this.pos + 1] = n
      this.pos += 2
    } else if (n < 0x10000) {
      this.buf[this.pos] = 0xc5
      this.view.setUint16(this.pos + 1, n)
      this.pos += 3
    } else {
      this.buf[this.pos] = 0xc6
      this.view.setUint32(this.pos + 1, n)
      this.pos += 5
    }
    this.buf.set(data, this.pos)
    this.pos += n
    return this
  }

  /** `bin` or `nil`. */
  binOrNil(data: Uint8Array | null | undefined): this {
    return data == null ? this.nil() : this.bin(data)
  }

  /** Bytes that are already one MessagePack value (or several whole messages). */
  raw(bytes: Uint8Array): this {
    this.room(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** Any value, through msgpackr (not for the hot path). */
  value(v: unknown): this {
    return this.raw(packr.pack(v))
  }

  /** The bytes since the last take, as a view; the writer starts over. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos)
    this.pos = 0
    return out
  }

  /** The bytes since the last take, copied; the writer starts over. */
  copy(): Uint8Array {
    // Not Buffer#slice: on a Buffer that is a view, and the next write would overwrite it.
    const out = Uint8Array.prototype.slice.call(this.buf, 0, this.pos) as Uint8Array
    this.pos = 0
    return out
  }

  /** Starts over and gives back memory after an unusually large frame. */
  reset(keepBytes = 64 * 1024): void {
    this.pos = 0
    if (this.buf.length > keepBytes) {
      this.buf = hasBuffer ? Buffer.allocUnsafe(1024) : new Uint8Array(1024)
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)
    }
  }
}

/** Pre-encodes a string as a MessagePack str (e.g. a queue name written into every delivery). */
export function encodeStr(s: string): Uint8Array {
  const w = new FrameWriter(s.length * 3 + 8)
  w.str(s)
  return w.copy()
}
