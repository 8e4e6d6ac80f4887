// The HTTP/JSON API's routes (protocol/HTTP.md): one table from method + path to a handler that
// calls the same Broker methods as a WebSocket session. Everything a request changes is answered
// after the turn's commit (HttpAnswer); bodies are size-limited before they are buffered.

import type { Logger } from 'pino'
import { encodeValue } from '../../protocol/codec.js'
import { BrokerError } from '../../protocol/errors.js'
import { FINISHED_STATES, Limits, STATE_NAMES } from '../../protocol/ops.js'
import { sameSecret } from '../auth.js'
import type { Broker, SubmitOptions } from '../broker.js'
import type { StateCode } from '../lifecycle.js'
import { badRequest, checkQueueName, mapOf, optInt, parseSubmitOpts, settingsAt, stateCode, SUBMIT_KEYS } from '../validate.js'
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
    private readonly log: Logger,
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
          r.answer.later('200 OK', { ...b.stats(null), http: { watches: this.watches.active.size, aborted: this.watches.aborted } }),
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
            const o = v === null ? null : mapOf(v, ['limit'], 'the body')
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
      handler({
        segments: found.params,
        query,
        headers: { lastEventId },
        reply,
        answer: new HttpAnswer(this.broker, reply),
        body: (limit, then) => this.readBody(res, reply, contentLength, limit, then, `${method} ${url}`),
      })
    } catch (err) {
      this.fail(reply, err, `${method} ${url}`)
    }
  }

  /** Answers an error; one that is not a BrokerError is a bug: logged, answered `internal`. */
  private fail(reply: Reply, err: unknown, request: string): void {
    if (!(err instanceof BrokerError)) this.log.error({ err, request }, 'internal error while handling an HTTP request')
    reply.error(err)
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
    return sameSecret(header.startsWith('Bearer ') ? header.slice(7) : (query.get('access_token') ?? ''), token)
  }

  /** Buffers the body up to `limit` bytes (refused before buffering when content-length says more), parses JSON. */
  private readBody(
    res: HttpResponse,
    reply: Reply,
    contentLength: string,
    limit: number,
    then: (value: unknown) => void,
    request: string,
  ): void {
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
        this.fail(reply, err, request)
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
    r.answer.later('200 OK', call(this.queueOf(r)))
  }

  private jobCall(r: Request, call: (id: number) => unknown): void {
    r.answer.later('200 OK', call(this.jobOf(r)))
  }

  private submit(r: Request): void {
    const queue = this.queueOf(r)
    r.body(2 * this.config.maxPayload + SMALL_BODY, (v) => {
      const { payload, opts } = this.jobItem(v, 'the body')
      this.broker.refuseIfStopping()
      // Client 0: no re-send de-duplication over HTTP (an idempotency key does that job).
      const res = this.broker.submit(r.answer, 0, queue, payload, opts, 0)
      if (res !== null) r.answer.pushSubmitted(0, [res.id], [res.duplicate], false)
    })
  }

  private submitBatch(r: Request): void {
    const queue = this.queueOf(r)
    r.body(BATCH_BODY, (v) => {
      const o = mapOf(v, ['jobs'], 'the body')
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
      this.broker.refuseIfStopping()
      const res = this.broker.submitMany(r.answer, 0, queue, payloads, options, 0)
      if (res !== null) r.answer.pushSubmitted(0, res.ids, res.duplicates, true)
    })
  }

  /** `{payload, ...options}` → the encoded payload and validated options. */
  private jobItem(v: unknown, what: string): { payload: Uint8Array; opts: SubmitOptions } {
    const o = mapOf(v, ['payload', ...HTTP_SUBMIT_KEYS], what)
    if (!('payload' in o)) badRequest(`${what}: payload is missing (null is a payload; send {"payload": null})`)
    const payload = encodeValue(o.payload)
    if (payload.length > this.config.maxPayload)
      throw new BrokerError(
        'payload_too_large',
        `${what}: the payload is ${payload.length} bytes as MessagePack; the limit is ${this.config.maxPayload}`,
      )
    return { payload, opts: parseSubmitOpts(o) } // it reads the option keys only
  }

  private listJobs(r: Request): void {
    const queue = this.queueOf(r)
    const state = stateCode(r.query.get('state'), STATE_NAMES, 'state')
    const limit = intParam(r.query, 'limit', 1, Limits.maxListLimit, Limits.defaultListLimit)
    const cursor = intParam(r.query, 'cursor', 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    const page = this.broker.listJobs(queue, state as StateCode, cursor, limit)
    const out: Record<string, unknown> = { jobs: page.jobs.map((j) => snapshotJson(j)) }
    if (page.cursor !== undefined) out.cursor = String(page.cursor)
    r.answer.later('200 OK', out)
  }

  private purge(r: Request): void {
    const queue = this.queueOf(r)
    const state = stateCode(r.query.get('state'), FINISHED_STATES, 'state')
    r.answer.later('200 OK', this.broker.purgeQueue(queue, state as StateCode))
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
    if (state !== null) stateCode(state, STATE_NAMES, 'state')
    new LongPoll(this.watches, r.reply, id, until === 'done', state, Date.now() + wait * 1000).start()
  }

  private events(r: Request): void {
    const id = this.jobOf(r)
    if (r.headers.lastEventId === `${id}.end`) return r.reply.empty('204 No Content')
    new SseStream(this.watches, r.reply, id).start()
  }
}

// ---- small parsers ----------------------------------------------------------------------------

/** An integer query parameter in min…max (digits only), or `fallback` when absent. */
function intParam(q: URLSearchParams, key: string, min: number, max: number, fallback: number): number {
  const v = q.get(key)
  return optInt({ [key]: v !== null && /^[0-9]{1,16}$/.test(v) ? Number(v) : v }, key, min, max, fallback)
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    badRequest('the path is not valid percent-encoding')
  }
}
