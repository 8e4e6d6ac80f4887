// The SDK's WebSocket, the same in Node (the `ws` package) and in browsers (global WebSocket).
// Everything above this module sees only binary frames in and out.

export interface Transport {
  send(frame: Uint8Array): void
  close(code?: number, reason?: string): void
  /** Bytes queued but not yet written to the network. */
  readonly buffered: number
}

export interface TransportEvents {
  frame(data: Uint8Array): void
  closed(code: number, reason: string): void
}

type AnySocket = {
  binaryType: string
  readyState: number
  bufferedAmount: number
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
}

let nodeWs: Promise<new (url: string, opts?: object) => AnySocket> | null = null

async function socketClass(): Promise<new (url: string, opts?: object) => AnySocket> {
  const g = globalThis as { WebSocket?: new (url: string) => AnySocket; process?: { versions?: { node?: string } } }
  if (g.process?.versions?.node === undefined && g.WebSocket !== undefined) return g.WebSocket
  // Node: `ws` (Node 20 has no global WebSocket; where it has, `ws` is still faster).
  nodeWs ??= import('ws').then((m) => (m.WebSocket ?? m.default) as unknown as new (url: string, opts?: object) => AnySocket)
  return nodeWs
}

/** Opens a WebSocket; rejects on error or after `timeoutMs`. */
export async function openTransport(url: string, events: TransportEvents, timeoutMs: number): Promise<Transport> {
  const Socket = await socketClass()
  return new Promise((resolve, reject) => {
    const ws = new Socket(url, { perMessageDeflate: false, maxPayload: 0 })
    const isNode = 'on' in (ws as object)
    ws.binaryType = isNode ? 'nodebuffer' : 'arraybuffer'
    let opened = false
    const timer = setTimeout(() => {
      ws.onclose = null
      ws.close()
      reject(new Error(`timed out connecting to ${url}`))
    }, timeoutMs)
    ws.onopen = () => {
      opened = true
      clearTimeout(timer)
      resolve({
        send: (frame) => ws.send(frame),
        close: (code, reason) => ws.close(code, reason),
        get buffered() {
          return ws.bufferedAmount
        },
      })
    }
    ws.onerror = () => {} // the close event follows and carries what we act on
    ws.onclose = (ev) => {
      clearTimeout(timer)
      if (!opened) reject(new Error(`cannot connect to ${url} (closed with ${ev.code})`))
      else events.closed(ev.code, ev.reason)
    }
    ws.onmessage = (ev) => {
      const d = ev.data
      events.frame(d instanceof Uint8Array ? d : new Uint8Array(d as ArrayBuffer))
    }
  })
}
