// A raw protocol v1 client for tests that must send what the SDK never would (garbage, hand-made
// frames, no hello) and read the broker's exact replies: `ws` + msgpackr, no SDK code involved.

import WebSocket from 'ws'
import { Packr, Unpackr } from 'msgpackr'
import { onCleanup, waitFor, withTimeout } from './broker.js'

// Plain MessagePack, as PROTOCOL.md requires (no msgpackr records or extensions).
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

// The op numbers are the protocol's table (protocol/ops.ts mirrors PROTOCOL.md §3).
export { Op } from '../../protocol/ops.js'
import { Op } from '../../protocol/ops.js'

/** Ops whose element 1 is the rid of the request they answer. */
const REPLY_OPS = new Set<number>([Op.welcome, Op.ok, Op.error, Op.submitted, Op.popped, Op.snapshot])

export type Msg = unknown[]

export const pack = (v: unknown): Buffer => packr.pack(v)
export const unpack = (b: Uint8Array): unknown => unpackr.unpack(b)

/** The opaque `bin` encoding of an application value (payload, result, error, progress). */
export const bin = (v: unknown): Buffer => packr.pack(v)

export class RawClient {
  /** Every message received, in order (a frame with several messages adds several). */
  readonly messages: Msg[] = []
  /** Frames the client could not decode (the broker must never send these). */
  readonly undecodable: Buffer[] = []
  readonly textFrames: string[] = []
  closeInfo: { code: number; reason: string } | null = null
  readonly closed: Promise<{ code: number; reason: string }>
  private nextRid = 1

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        resolve(this.closeInfo)
      })
    })
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      if (!isBinary) {
        this.textFrames.push(buf.toString('utf8'))
        return
      }
      try {
        for (const m of unpackr.unpackMultiple(buf) as unknown[]) this.messages.push(m as Msg)
      } catch {
        this.undecodable.push(buf)
      }
    })
    ws.on('error', () => {
      // surfaced through `closed`
    })
  }

  /** Opens ws://HOST:PORT/v1 (or `path`) without sending anything. */
  static async open(url: string, path = '/v1'): Promise<RawClient> {
    const ws = new WebSocket(url + path, { maxPayload: 64 * 1024 * 1024 })
    const client = new RawClient(ws)
    onCleanup(async () => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate()
    })
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      }),
      5_000,
      `ws open ${url}${path}`,
    )
    return client
  }

  /** Opens a connection and completes hello (version 1, optional token); returns the welcome. */
  static async session(url: string, token?: string): Promise<{ client: RawClient; welcome: Msg }> {
    const client = await RawClient.open(url)
    const welcome = await client.request((rid) => (token === undefined ? [Op.hello, rid, 1] : [Op.hello, rid, 1, token]))
    if (welcome[0] !== Op.welcome) throw new Error(`hello was answered with ${JSON.stringify(welcome)}`)
    return { client, welcome }
  }

  rid(): number {
    return this.nextRid++
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Sends the messages packed back to back in ONE binary frame. */
  send(...msgs: Msg[]): void {
    this.ws.send(Buffer.concat(msgs.map((m) => packr.pack(m))), { binary: true })
  }

  sendBytes(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true })
  }

  sendText(text: string): void {
    this.ws.send(text, { binary: false })
  }

  /** Waits (bounded) for the first received message matching `pred` at index >= `from`. */
  async waitFor(pred: (m: Msg) => boolean, timeoutMs = 3_000, what = 'a message', from = 0): Promise<Msg> {
    try {
      return await waitFor(() => this.messages.slice(from).find(pred), timeoutMs, what, 5)
    } catch (err) {
      throw new Error(`${(err as Error).message}; received so far: ${this.describe()}`, { cause: err })
    }
  }

  /** Sends a request built with a fresh rid and waits for the reply that carries that rid. */
  async request(build: (rid: number) => Msg, timeoutMs = 3_000): Promise<Msg> {
    const rid = this.rid()
    this.send(build(rid))
    return this.reply(rid, timeoutMs)
  }

  /** The reply (any reply op, including error) to request `rid`. */
  reply(rid: number, timeoutMs = 3_000): Promise<Msg> {
    return this.waitFor((m) => REPLY_OPS.has(m[0] as number) && m[1] === rid, timeoutMs, `reply to rid ${rid}`)
  }

  /** Waits for the close of the connection (bounded). */
  async waitClosed(timeoutMs = 3_000): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, timeoutMs, 'connection close')
  }

  describe(): string {
    const msgs = this.messages.map((m) =>
      JSON.stringify(m, (_k, v: unknown) =>
        v && typeof v === 'object' && 'type' in v && (v as { type: string }).type === 'Buffer' ? '<bin>' : v,
      ),
    )
    return `[${msgs.join(', ')}]${this.closeInfo ? ` closed ${this.closeInfo.code}` : ''}`
  }
}
