// The HTTP/JSON API's routes (protocol/HTTP.md): one table from method + path to a handler that
// calls the same Broker methods as a WebSocket session. Everything a request changes is answered
// after the turn's commit (HttpAnswer); bodies are size-limited before they are buffered.

import { timingSafeEqual } from 'node:crypto'
import { encodeValue } from '../../protocol/codec.js'
import { BrokerError } from '../../protocol/errors.js'
import { FINISHED_STATES, Limits, STATE_NAMES } from '../../protocol/ops.js'
import type { Broker, SubmitOptions } from '../broker.js'
import type { StateCode } from '../lifecycle.js'
import { badRequest, checkQueueName, optInt, parseSubmitOpts, settingsAt, SUBMIT_KEYS } from '../validate.js'
import type { App, HttpRequest, HttpResponse } from '../uws.js'
import { HttpAnswer } from './answer.js'
import { HttpWatchContext, LongPoll, SseStream, type HttpTopics } from './job-watch.js'
import { snapshotJson } from './json.js'
import { Reply } from './reply.js'

export interface HttpConfig {
  authToken: string | null
  maxPayload: number
}

/** Submit options a JSON body may carry (no connection: no `watch`, no `resendAfter`). */
const HTTP_SUBMIT_KEYS: readonly string[] = SUBMIT_KEYS.filter((k) => k !== 'watch' && k !== 'resendAfter')
const SMALL_BODY = 64 * 1024
const BATCH_BODY = 16 * 1024 * 1024
const MAX_WAIT_S = 120

/** What a handler gets: the parsed request (uWS's req is only valid during its callback). */
interface Request {
  method: string
  segments: string[]
  query: URLSearchParams
  headers: { lastEventId: string }
  reply: Reply
  answer: HttpAnswer
  /** The body as JSON (call once; handlers that take no body never read it). */
  body(limit: number, then: (value: unknown) => void): void
}

type Handler = (r: Request) => void
/** Route patterns: literal segments, ':queue' and ':id' capture. */
type RouteTable = Array<{ pattern: string[]; methods: Record<string, Handler> }>

export class HttpApi {
  readonly watches: HttpWatchContext
  private readonly routes: RouteTable

  constructor(
    private readonly broker: Broker,
    private readonly config: HttpConfig,
    topics: HttpTopics,
  ) {
    this.watches = new HttpWatchContext(broker, topics)
    this.routes = this.table()
  }

  register(app: App): void {
    app.any('/v1/*', (res, req) => this.handle(res, req))
  }

  private table(): RouteTable {
    const b = this.broker
    const route = (path: string, methods: Record<string, Handler>) => ({ pattern: path.split('/').filter(Boolean), methods })
    return [
      route('queues', {
        get: (r) =>
          r.answer.later('200 OK', () => ({
            ...b.stats(null),
            http: { watches: this.watches.active.size, aborted: this.watches.aborted },
          })),
      }),
      route('queues/:queue', { get: (r) => this.queueCall(r, (q) => b.queueInfo(q)) }),
      route('queues/:queue/jobs', {
        post: (r) => this.submit(r),
        get: (r) => this.listJobs(r),
        delete: (r) => this.purge(r),
      }),
      route('queues/:queue/jobs:batch', { post: (r) => this.submitBatch(r) }),
      route('queues/:queue/settings', {
        patch: (r) => r.body(SMALL_BODY, (v) => this.queueCall(r, (q) => b.configure(q, settingsAt([v], 0)))),
      }),
      route('queues/:queue/pause', { post: (r) => this.queueCall(r, (q) => b.pause(q, true)) }),
      route('queues/:queue/resume', { post: (r) => this.queueCall(r, (q) => b.pause(q, false)) }),
      route('queues/:queue/redrive', {
        post: (r) =>
          r.body(SMALL_BODY, (v) => {
            const o = v === null ? null : fields(v, ['limit'], 'the body')
            const limit = optInt(o, 'limit', 1, Limits.maxRedrive, Limits.maxRedrive)
            this.queueCall(r, (q) => b.redrive(q, limit))
          }),
      }),
      route('jobs/:id', {
        get: (r) => this.getJob(r),
        delete: (r) => this.jobCall(r, (id) => b.remove(id)),
      }),
      route('jobs/:id/events', { get: (r) => this.events(r) }),
      route('jobs/:id/cancel', { post: (r) => this.jobCall(r, (id) => b.cancel(id)) }),
      route('jobs/:id/retry', { post: (r) => this.jobCall(r, (id) => b.retry(id)) }),
    ]
  }

  // ---- dispatch ------------------------------------------------------------------------------

  private handle(res: HttpResponse, req: HttpRequest): void {
    const reply = new Reply(res)
    const method = req.getMethod().toLowerCase()
    const url = req.getUrl()
    const query = new URLSearchParams(req.getQuery() ?? '')
    const auth = req.getHeader('authorization')
    const contentLength = req.getHeader('content-length')
    const lastEventId = req.getHeader('last-event-id')
    try {
      if (!this.authorized(auth, query)) {
        return reply.error(new BrokerError('unauthorized', 'send authorization: Bearer <token> (the broker runs with --auth-token)'), {
          'www-authenticate': 'Bearer',
        })
      }
      const segments = url.split('/').filter(Boolean).slice(1) // drop 'v1'
      const found = this.match(segments)
      if (found === null) throw new BrokerError('not_found', `no route ${url}; see protocol/HTTP.md`)
      const handler = found.methods[method]
      if (handler === undefined) {
        const allow = Object.keys(found.methods).map((m) => m.toUpperCase())
        return reply.json(
          '405 Method Not Allowed',
          { error: { code: 'bad_request', message: `${method.toUpperCase()} is not allowed on ${url}; use ${allow.join(', ')}` } },
          { allow: allow.join(', ') },
        )
      }
      let bodyRead = false
      const request: Request = {
        method,
        segments: found.params,
        query,
        headers: { lastEventId },
        reply,
        answer: new HttpAnswer(this.broker, reply),
        body: (limit, then) => {
          if (bodyRead) throw new Error('body read twice')
          bodyRead = true
          this.readBody(res, reply, contentLength, limit, then)
        },
      }
      handler(request)
    } catch (err) {
      reply.error(err)
    }
  }

  private match(segments: string[]): { methods: Record<string, Handler>; params: string[] } | null {
    for (const r of this.routes) {
      if (r.pattern.length !== segments.length) continue
      const params: string[] = []
      let ok = true
      for (let i = 0; i < segments.length && ok; i++) {
        if (r.pattern[i].startsWith(':')) params.push(segments[i])
        else ok = r.pattern[i] === segments[i]
      }
      if (ok) return { methods: r.methods, params }
    }
    return null
  }

  private authorized(header: string, query: URLSearchParams): boolean {
    const token = this.config.authToken
    if (token === null) return true
    const given = header.startsWith('Bearer ') ? header.slice(7) : (query.get('access_token') ?? '')
    const a = Buffer.from(given)
    const b = Buffer.from(token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /** Buffers the body up to `limit` bytes (refused before buffering when content-length says more), parses JSON. */
  private readBody(res: HttpResponse, reply: Reply, contentLength: string, limit: number, then: (value: unknown) => void): void {
    const tooLarge = () => new BrokerError('payload_too_large', `the body is larger than this route's limit of ${limit} bytes`)
    if (contentLength !== '' && Number(contentLength) > limit) return reply.error(tooLarge(), { connection: 'close' })
    const chunks: Buffer[] = []
    let size = 0
    res.onData((chunk, isLast) => {
      if (reply.done) return
      size += chunk.byteLength
      if (size > limit) return reply.error(tooLarge(), { connection: 'close' })
      chunks.push(Buffer.from(chunk.slice(0))) // uWS reuses the chunk's memory after this callback
      if (!isLast) return
      try {
        const text = Buffer.concat(chunks).toString('utf8')
        let value: unknown = null
        if (text.trim() !== '') {
          try {
            value = JSON.parse(text)
          } catch (err) {
            badRequest(`the body is not JSON: ${(err as Error).message}`)
          }
        }
        then(value)
      } catch (err) {
        reply.error(err)
      }
    })
  }

  // ---- handlers ------------------------------------------------------------------------------

  private queueOf(r: Request): string {
    return checkQueueName(decode(r.segments[0]), 'queue')
  }

  private jobOf(r: Request): number {
    const v = r.segments[0]
    if (!/^[0-9]{1,16}$/.test(v) || !Number.isSafeInteger(Number(v)))
      badRequest(`job id must be a string of digits, got ${JSON.stringify(v.slice(0, 40))}`)
    return Number(v)
  }

  private queueCall(r: Request, call: (queue: string) => unknown): void {
    const value = call(this.queueOf(r))
    r.answer.later('200 OK', () => value)
  }

  private jobCall(r: Request, call: (id: number) => unknown): void {
    const value = call(this.jobOf(r))
    r.answer.later('200 OK', () => value)
  }

  private guardStopping(): void {
    if (this.broker.stopping) throw new BrokerError('shutting_down', 'the broker is stopping; retry against its replacement')
  }

  private submit(r: Request): void {
    const queue = this.queueOf(r)
    r.body(2 * this.config.maxPayload + SMALL_BODY, (v) => {
      const { payload, opts } = this.jobItem(v, 'the body')
      this.guardStopping()
      const res = this.broker.submit(r.answer, 0, queue, payload, opts, 0)
      this.broker.store.flushInserts()
      if (res !== null) r.answer.pushSubmitted(0, [res.id], [res.duplicate], false)
    })
  }

  private submitBatch(r: Request): void {
    const queue = this.queueOf(r)
    r.body(BATCH_BODY, (v) => {
      const o = fields(v, ['jobs'], 'the body')
      const jobs = o.jobs
      if (!Array.isArray(jobs) || jobs.length === 0 || jobs.length > Limits.maxBatch)
        badRequest(`jobs must be an array of 1-${Limits.maxBatch} {payload, ...options} objects`)
      const payloads: Uint8Array[] = []
      const options: SubmitOptions[] = []
      for (let i = 0; i < jobs.length; i++) {
        const item = this.jobItem(jobs[i], `jobs[${i}]`)
        payloads.push(item.payload)
        options.push(item.opts)
      }
      this.guardStopping()
      const res = this.broker.submitMany(r.answer, 0, queue, payloads, options, 0)
      this.broker.store.flushInserts()
      if (res !== null) r.answer.pushSubmitted(0, res.ids, res.duplicates, true)
    })
  }

  /** `{payload, ...options}` → the encoded payload and validated options. */
  private jobItem(v: unknown, what: string): { payload: Uint8Array; opts: SubmitOptions } {
    const o = fields(v, ['payload', ...HTTP_SUBMIT_KEYS], what)
    if (!('payload' in o)) badRequest(`${what}: payload is missing (null is a payload; send {"payload": null})`)
    const payload = encodeValue(o.payload)
    if (payload.length > this.config.maxPayload)
      throw new BrokerError(
        'payload_too_large',
        `${what}: the payload is ${payload.length} bytes as MessagePack; the limit is ${this.config.maxPayload}`,
      )
    const { payload: _, ...rest } = o
    return { payload, opts: parseSubmitOpts(rest) }
  }

  private listJobs(r: Request): void {
    const queue = this.queueOf(r)
    const state = stateParam(r.query, 'state', STATE_NAMES)
    const limit = intParam(r.query, 'limit', 1, Limits.maxListLimit, Limits.defaultListLimit)
    const cursor = intParam(r.query, 'cursor', 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    const page = this.broker.listJobs(queue, state as StateCode, cursor, limit)
    r.answer.later('200 OK', () => {
      const out: Record<string, unknown> = { jobs: page.jobs.map(snapshotJson) }
      if (page.cursor !== undefined) out.cursor = String(page.cursor)
      return out
    })
  }

  private purge(r: Request): void {
    const queue = this.queueOf(r)
    const state = stateParam(r.query, 'state', FINISHED_STATES)
    const value = this.broker.purgeQueue(queue, state as StateCode)
    r.answer.later('200 OK', () => value)
  }

  private getJob(r: Request): void {
    const id = this.jobOf(r)
    const waitS = r.query.get('wait')
    if (waitS === null) {
      const snap = this.broker.snapshotOf(id)
      return r.answer.pushSnapshot(0, snap)
    }
    const wait = intParam(r.query, 'wait', 1, MAX_WAIT_S, 0)
    const until = r.query.get('until')
    if (until !== null && until !== 'done' && until !== 'change')
      badRequest(`until must be done or change, got ${JSON.stringify(until.slice(0, 20))}`)
    const state = r.query.get('state')
    if (state !== null && !(STATE_NAMES as readonly string[]).includes(state)) badRequest(`state must be one of ${STATE_NAMES.join(', ')}`)
    new LongPoll(this.watches, r.reply, id, until === 'done', state, Date.now() + wait * 1000).start()
  }

  private events(r: Request): void {
    const id = this.jobOf(r)
    if (r.headers.lastEventId === `${id}.end`) return r.reply.empty('204 No Content')
    new SseStream(this.watches, r.reply, id).start()
  }
}

// ---- small parsers ----------------------------------------------------------------------------

/** A JSON object whose keys are all in `allowed`. */
function fields(v: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) badRequest(`${what} must be a JSON object`)
  for (const k of Object.keys(v)) if (!allowed.includes(k)) badRequest(`${what}: unknown field '${k}'; known: ${allowed.join(', ')}`)
  return v as Record<string, unknown>
}

function intParam(q: URLSearchParams, key: string, min: number, max: number, fallback: number): number {
  const v = q.get(key)
  if (v === null) return fallback
  const n = Number(v)
  if (!/^[0-9]{1,16}$/.test(v) || n < min || n > max) badRequest(`${key} must be an integer between ${min} and ${max}`)
  return n
}

function stateParam(q: URLSearchParams, key: string, allowed: readonly string[]): number {
  const v = q.get(key)
  if (v === null || !allowed.includes(v)) badRequest(`${key} must be one of ${allowed.join(', ')}`)
  return (STATE_NAMES as readonly string[]).indexOf(v)
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    badRequest('the path is not valid percent-encoding')
  }
}
