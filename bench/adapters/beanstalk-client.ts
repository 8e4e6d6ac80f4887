// A tiny beanstalkd protocol client (put / reserve / delete / use / watch / ignore / stats-tube).
// Written here instead of adding an npm dependency; requests are pipelined, replies matched in order.

import net from 'node:net'

interface Reply {
  line: string
  body?: Buffer
}

interface Pending {
  resolve: (r: Reply) => void
  reject: (e: Error) => void
}

/** Replies that carry a body: `RESERVED <id> <bytes>` and `OK <bytes>`. */
function bodyLength(line: string): number {
  if (line.startsWith('RESERVED ')) return Number(line.split(' ')[2])
  if (line.startsWith('OK ')) return Number(line.slice(3))
  return -1
}

export class BeanstalkClient {
  private readonly sock: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private readonly pending: Pending[] = []
  private closed = false
  private usedTube = 'default'
  readonly ready: Promise<void>

  constructor(host: string, port: number) {
    this.sock = net.connect({ host, port })
    this.sock.setNoDelay(true)
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', () => resolve())
      this.sock.once('error', reject)
    })
    this.sock.on('data', (d: Buffer) => this.onData(d))
    this.sock.on('error', (e) => this.failAll(e))
    this.sock.on('close', () => this.failAll(new Error('beanstalkd connection closed')))
  }

  private failAll(e: Error): void {
    for (const p of this.pending.splice(0)) p.reject(e)
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d
    let off = 0
    while (this.pending.length) {
      const nl = this.buf.indexOf('\r\n', off)
      if (nl < 0) break
      const line = this.buf.toString('latin1', off, nl)
      const n = bodyLength(line)
      let next = nl + 2
      let body: Buffer | undefined
      if (n >= 0) {
        if (this.buf.length < next + n + 2) break // body not complete yet
        body = this.buf.subarray(next, next + n)
        next += n + 2
      }
      off = next
      this.pending.shift()!.resolve({ line, body })
    }
    this.buf = off >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off)
  }

  private request(cmd: string | Buffer): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('beanstalkd client closed'))
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      this.sock.write(cmd)
    })
  }

  private static expect(r: Reply, prefix: string, what: string): Reply {
    if (!r.line.startsWith(prefix)) throw new Error(`beanstalkd ${what}: ${r.line}`)
    return r
  }

  async use(tube: string): Promise<void> {
    if (this.usedTube === tube) return
    this.usedTube = tube // set before the reply so pipelined puts do not send `use` twice
    BeanstalkClient.expect(await this.request(`use ${tube}\r\n`), 'USING', 'use')
  }

  async watch(tube: string): Promise<void> {
    BeanstalkClient.expect(await this.request(`watch ${tube}\r\n`), 'WATCHING', 'watch')
  }

  async ignore(tube: string): Promise<void> {
    BeanstalkClient.expect(await this.request(`ignore ${tube}\r\n`), 'WATCHING', 'ignore')
  }

  /** Puts into the tube selected by use(); returns the job id. */
  async put(data: string, pri = 1024, delay = 0, ttr = 60): Promise<string> {
    const body = Buffer.from(data)
    const head = Buffer.from(`put ${pri} ${delay} ${ttr} ${body.length}\r\n`)
    const r = await this.request(Buffer.concat([head, body, CRLF]))
    return BeanstalkClient.expect(r, 'INSERTED', 'put').line.slice(9)
  }

  /** Waits up to timeoutSec for a job of a watched tube; null on timeout. */
  async reserve(timeoutSec: number): Promise<{ id: string; body: Buffer } | null> {
    const r = await this.request(`reserve-with-timeout ${timeoutSec}\r\n`)
    if (r.line === 'TIMED_OUT' || r.line === 'DEADLINE_SOON') return null
    BeanstalkClient.expect(r, 'RESERVED', 'reserve')
    return { id: r.line.split(' ')[1], body: r.body! }
  }

  async delete(id: string): Promise<void> {
    BeanstalkClient.expect(await this.request(`delete ${id}\r\n`), 'DELETED', 'delete')
  }

  /** Parsed `stats-tube` YAML as a flat map, or undefined if the tube does not exist. */
  async statsTube(tube: string): Promise<Record<string, string> | undefined> {
    const r = await this.request(`stats-tube ${tube}\r\n`)
    if (r.line === 'NOT_FOUND') return undefined
    const out: Record<string, string> = {}
    for (const l of r.body!.toString().split('\n')) {
      const m = /^([\w-]+): (.*)$/.exec(l)
      if (m) out[m[1]] = m[2]
    }
    return out
  }

  close(): void {
    this.closed = true
    this.sock.destroy()
    this.failAll(new Error('beanstalkd client closed'))
  }
}

const CRLF = Buffer.from('\r\n')
