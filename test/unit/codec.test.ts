import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FrameWriter, decodeFrame, decodeValue, encodeValue, utf8Length } from '../../protocol/codec.js'
import { vectors, encodeVector, type Vector, type VectorValue } from '../../protocol/vectors.js'
import { Op } from '../../protocol/ops.js'

const committed = JSON.parse(readFileSync(new URL('../../protocol/vectors/v1.json', import.meta.url), 'utf8')) as Vector[]

/** Decoded MessagePack → the JSON form used by the vectors (bin as {$bin: hex}). */
function toVectorForm(v: unknown): VectorValue {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('hex') }
  if (Array.isArray(v)) return v.map(toVectorForm)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toVectorForm(x)]))
  return v as VectorValue
}

describe('protocol test vectors (protocol/vectors/v1.json)', () => {
  it('the committed vectors are exactly what the codec produces (regenerate with node dist/protocol/vectors.js)', () => {
    expect(committed).toEqual(vectors())
  })

  it('cover every op of protocol v1', () => {
    const ops = new Set(committed.map((v) => (v.value as number[])[0]))
    for (const op of Object.values(Op)) expect(ops, `op ${op}`).toContain(op)
  })

  for (const v of committed) {
    it(`decodes the hex of '${v.name}' to its value`, () => {
      const messages = decodeFrame(Buffer.from(v.hex, 'hex'))
      expect(messages).toHaveLength(1)
      expect(toVectorForm(messages[0])).toEqual(v.value)
    })
    it(`encodes '${v.name}' to its hex`, () => {
      const w = new FrameWriter(8)
      encodeVector(w, v.value)
      expect(Buffer.from(w.copy()).toString('hex')).toBe(v.hex)
    })
  }
})

describe('FrameWriter', () => {
  it('writes every unsigned integer size in its shortest form and reads it back', () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [127, 1],
      [128, 2],
      [255, 2],
      [256, 3],
      [65535, 3],
      [65536, 5],
      [2 ** 32 - 1, 5],
      [2 ** 32, 9],
      [1795500000000, 9],
      [Number.MAX_SAFE_INTEGER, 9],
    ]
    for (const [n, size] of cases) {
      const w = new FrameWriter(1)
      w.uint(n)
      const bytes = w.copy()
      expect(bytes.length, `size of ${n}`).toBe(size)
      expect(decodeFrame(bytes)).toEqual([n])
    }
  })

  it('writes strings of every header size and any UTF-8, including lone surrogates', () => {
    const strings = [
      '',
      'a',
      'é',
      '€',
      '😀',
      'a'.repeat(31),
      'a'.repeat(32),
      'é'.repeat(200),
      'x'.repeat(65535),
      'y'.repeat(70000),
      '\ud800x',
      'a\udc00',
      '\ud83dé',
    ]
    for (const s of strings) {
      expect(utf8Length(s), JSON.stringify(s.slice(0, 8))).toBe(Buffer.byteLength(s))
      const w = new FrameWriter(4)
      w.str(s)
      expect(decodeFrame(w.copy())).toEqual([Buffer.from(s).toString()])
    }
  })

  it('writes bin of every header size', () => {
    for (const n of [0, 1, 255, 256, 65535, 65536]) {
      const data = Buffer.alloc(n, 7)
      const w = new FrameWriter(4)
      w.bin(data)
      const [out] = decodeFrame(w.copy()) as [Uint8Array]
      expect(Buffer.from(out).equals(data)).toBe(true)
    }
  })

  it('concatenates many messages into one frame that decodes into all of them', () => {
    const w = new FrameWriter(16)
    for (let i = 0; i < 1000; i++) w.array(3).uint(7).uint(0).uint(i)
    const messages = decodeFrame(w.take()) as number[][]
    expect(messages).toHaveLength(1000)
    expect(messages[999]).toEqual([7, 0, 999])
  })

  it('copy() hands out bytes that later writes never change', () => {
    const w = new FrameWriter(64)
    w.array(1).uint(1)
    const first = w.copy()
    w.array(1).uint(2)
    const second = w.copy()
    expect(decodeFrame(first)).toEqual([[1]])
    expect(decodeFrame(second)).toEqual([[2]])
  })

  it('take() hands out the frame and starts over', () => {
    const w = new FrameWriter(16)
    w.uint(1)
    expect(w.take().length).toBe(1)
    expect(w.length).toBe(0)
  })
})

describe('decodeFrame', () => {
  it('throws on bytes that are not whole MessagePack values', () => {
    expect(() => decodeFrame(Buffer.from([0x93, 0x01]))).toThrow() // truncated array
    expect(() => decodeFrame(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]))).toThrow() // str32 claiming 4 GiB
  })

  it('refuses the never-used byte 0xc1', () => {
    expect(() => decodeFrame(Buffer.from([0xc1]))).toThrow()
  })

  it('never lets a __proto__ key reach an object prototype', () => {
    const frame = encodeValue(JSON.parse('{"__proto__": {"polluted": true}}'))
    const [v] = decodeFrame(frame) as [Record<string, unknown>]
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
  })
})

describe('opaque values', () => {
  it('round-trip any JSON-like value through encodeValue/decodeValue', () => {
    const values = [null, 0, -1, 1.5, 'x', [1, 'a'], { a: { b: [true, false] } }, 2 ** 40]
    for (const v of values) expect(decodeValue(encodeValue(v))).toEqual(v)
  })
})
