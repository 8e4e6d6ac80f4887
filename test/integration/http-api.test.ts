// The HTTP/JSON API (protocol/HTTP.md) against a real daemon: submit, read, manage, long poll and
// Server-Sent Events, with bad input of every kind. Jobs cross between HTTP and the WebSocket SDK
// in both directions.

import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { connectClient, sleep, startBroker, type RunningBroker } from '../helpers/broker.js'

interface Answer {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

function api(b: RunningBroker) {
  const base = `http://127.0.0.1:${b.port}`
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers }
  }
}

const errorOf = (a: Answer) => a.body.error as { code: string; message: string }

/** Reads an SSE stream until it ends (or `ms` pass): [{id, event, data}]. */
async function readSse(url: string, headers: Record<string, string> = {}, ms = 10_000) {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), ms)
  const res = await fetch(url, { headers, signal: ac.signal })
  const messages: Array<{ id: string; event: string; data: Record<string, unknown> }> = []
  if (res.status !== 200 || res.body === null) {
    clearTimeout(timer)
    return { status: res.status, type: res.headers.get('content-type'), messages }
  }
  let text = ''
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString()
  } catch {
    /* aborted at the deadline */
  }
  clearTimeout(timer)
  for (const block of text.split('\n\n')) {
    const m: Record<string, string> = {}
    for (const line of block.split('\n')) {
      const at = line.indexOf(': ')
      if (at > 0) m[line.slice(0, at)] = line.slice(at + 2)
    }
    if (m.event !== undefined) messages.push({ id: m.id, event: m.event, data: JSON.parse(m.data) as Record<string, unknown> })
  }
  return { status: res.status, type: res.headers.get('content-type'), messages }
}

describe('HTTP API: submitting and reading', () => {
  it('a JSON payload posted over HTTP reaches a WebSocket worker as the same value, and its result reads back as JSON', async () => {
    const b = await startBroker()
    const call = api(b)
    const payload = { to: 'ada@example.com', n: 42, f: 1.5, list: [1, 'two', null, true], nested: { deep: { x: -7 } }, unicode: 'Grüße 🌍' }
    const sub = await call('POST', '/v1/queues/mail/jobs', { payload, maxAttempts: 5, priority: 3 })
    expect(sub.status).toBe(201)
    expect(sub.body).toMatchObject({ duplicate: false })
    expect(sub.body.id).toMatch(/^\d+$/)
    expect(['queued', 'active']).toContain(sub.body.state)

    const worker = await connectClient(b.url)
    const seen: unknown[] = []
    worker.consume('mail', async (job, ctx) => {
      seen.push(job.payload)
      await ctx.progress({ pct: 50 })
      return { sent: true, bytes: new Uint8Array([1, 2, 3]), echo: job.payload }
    })
    const done = await call('GET', `/v1/jobs/${sub.body.id as string}?wait=10&until=done`)
    expect(seen).toEqual([payload])
    expect(done.status).toBe(200)
    expect(done.body).toMatchObject({ id: sub.body.id, queue: 'mail', state: 'completed', attempt: 1, maxAttempts: 5, priority: 3 })
    expect(done.body.result).toEqual({ sent: true, bytes: { $bin: 'AQID' }, echo: payload })
  })

  it('a job submitted with the SDK reads over HTTP with the same snapshot as get()', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('sdk-q', { a: 1 }, { delayMs: 60_000 })
    const viaHttp = await api(b)('GET', `/v1/jobs/${id}`)
    const viaSdk = await c.get(id)
    expect(viaHttp.status).toBe(200)
    expect(viaHttp.body).toEqual({ ...viaSdk })
    expect(viaHttp.body.state).toBe('delayed')
  })

  it('an idempotency key answers 200 with the existing id; a batch is stored whole', async () => {
    const b = await startBroker()
    const call = api(b)
    const first = await call('POST', '/v1/queues/k/jobs', { payload: 1, key: 'order-7' })
    const again = await call('POST', '/v1/queues/k/jobs', { payload: 2, key: 'order-7' })
    expect(first.status).toBe(201)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true, state: 'queued' })

    const batch = await call('POST', '/v1/queues/k/jobs:batch', {
      jobs: [{ payload: 'a' }, { payload: 'b', key: 'order-7' }, { payload: null }],
    })
    expect(batch.status).toBe(201)
    expect(batch.body.duplicates).toEqual([false, true, false])
    expect((batch.body.ids as string[])[1]).toBe(first.body.id)
    const bad = await call('POST', '/v1/queues/k/jobs:batch', { jobs: [{ payload: 'c' }, { payload: 'd', maxAttempts: 'x' }] })
    expect(bad.status).toBe(400)
    expect(errorOf(bad).message).toMatch(/maxAttempts/)
    const q = await call('GET', '/v1/queues/k')
    expect(q.body.queued).toBe(3) // the bad batch stored nothing
    const allDup = await call('POST', '/v1/queues/k/jobs:batch', { jobs: [{ payload: 'x', key: 'order-7' }] })
    expect(allDup.status).toBe(200)
  })

  it('refuses bad input with a typed error and stores nothing', async () => {
    const b = await startBroker({ args: ['--max-payload', '1024'] })
    const call = api(b)
    const cases: Array<[string, string, unknown, number, string, RegExp]> = [
      ['POST', '/v1/queues/q/jobs', 'not json{', 400, 'bad_request', /not JSON/],
      ['POST', '/v1/queues/q/jobs', '[1,2]', 400, 'bad_request', /JSON object/],
      ['POST', '/v1/queues/q/jobs', '"str"', 400, 'bad_request', /JSON object/],
      ['POST', '/v1/queues/q/jobs', '', 400, 'bad_request', /JSON object/],
      ['POST', '/v1/queues/q/jobs', { maxAttempts: 2 }, 400, 'bad_request', /payload is missing/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, maxAttempts: 'three' }, 400, 'bad_request', /maxAttempts/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, maxAttempts: 1.5 }, 400, 'bad_request', /maxAttempts/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, priority: 1e9 }, 400, 'bad_request', /priority/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, delayMs: 5, runAt: 5 }, 400, 'bad_request', /exclude/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, backoff: 'fast' }, 400, 'bad_request', /backoff/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, watch: true }, 400, 'bad_request', /unknown field 'watch'/],
      ['POST', '/v1/queues/q/jobs', { payload: 1, key: '' }, 400, 'bad_request', /key/],
      ['POST', '/v1/queues/q/jobs', { payload: 'x'.repeat(1100) }, 413, 'payload_too_large', /limit is 1024/],
      ['POST', '/v1/queues/bad%20name/jobs', { payload: 1 }, 400, 'bad_request', /queue/],
      ['POST', `/v1/queues/${'q'.repeat(200)}/jobs`, { payload: 1 }, 400, 'bad_request', /queue/],
      ['POST', '/v1/queues/q/jobs:batch', { jobs: [] }, 400, 'bad_request', /1-10000/],
      ['POST', '/v1/queues/q/jobs:batch', { jobs: 'all' }, 400, 'bad_request', /array/],
      ['POST', '/v1/queues/q/jobs:batch', { jobs: [1] }, 400, 'bad_request', /jobs\[0\]/],
      ['GET', '/v1/jobs/abc', undefined, 400, 'bad_request', /digits/],
      ['GET', '/v1/jobs/99999999999999999999', undefined, 400, 'bad_request', /digits/],
      ['GET', '/v1/jobs/12345', undefined, 404, 'not_found', /12345/],
      ['GET', '/v1/jobs/12345?wait=0', undefined, 400, 'bad_request', /wait/],
      ['GET', '/v1/jobs/12345?wait=9999', undefined, 400, 'bad_request', /wait/],
      ['GET', '/v1/jobs/12345?wait=1&until=never', undefined, 400, 'bad_request', /until/],
      ['GET', '/v1/jobs/12345?wait=1&state=sleeping', undefined, 400, 'bad_request', /state/],
      ['GET', '/v1/queues/q/jobs', undefined, 400, 'bad_request', /state/],
      ['GET', '/v1/queues/nosuch/jobs?state=failed', undefined, 404, 'not_found', /nosuch/],
      ['GET', '/v1/queues/q/jobs?state=queued&limit=0', undefined, 400, 'bad_request', /limit/],
      ['GET', '/v1/queues/q/jobs?state=queued&limit=-1', undefined, 400, 'bad_request', /limit/],
      ['DELETE', '/v1/queues/q/jobs?state=queued', undefined, 400, 'bad_request', /state/],
      ['GET', '/v1/queues/nosuch', undefined, 404, 'not_found', /nosuch/],
      ['PATCH', '/v1/queues/q/settings', { maxLength: 'big' }, 400, 'bad_request', /maxLength/],
      ['PATCH', '/v1/queues/q/settings', { colour: 1 }, 400, 'bad_request', /colour/],
      ['POST', '/v1/queues/q/redrive', { limit: -5 }, 400, 'bad_request', /limit/],
      ['POST', '/v1/queues/q/redrive', '"all"', 400, 'bad_request', /JSON object/],
      ['POST', '/v1/queues/q/redrive', { limit: 1, extra: true }, 400, 'bad_request', /unknown field 'extra'/],
      ['PATCH', '/v1/queues/q/settings', '[1]', 400, 'bad_request', /settings/],
      ['PATCH', '/v1/queues/q/settings', '{', 400, 'bad_request', /not JSON/],
      ['POST', '/v1/queues/q/jobs:batch', '{"jobs": [{"payload": 1}], "more": 1}', 400, 'bad_request', /unknown field 'more'/],
      ['POST', '/v1/jobs/777/cancel', undefined, 404, 'not_found', /777/],
      ['GET', '/v1/nothing/here', undefined, 404, 'not_found', /no route/],
      ['GET', '/elsewhere', undefined, 404, 'not_found', /\/v1/],
    ]
    for (const [method, path, body, status, code, message] of cases) {
      const a = await call(method, path, body)
      expect({ path, body, status: a.status, code: errorOf(a)?.code }).toEqual({ path, body, status, code })
      expect(errorOf(a).message).toMatch(message)
    }
    const wrongMethod = await call('PUT', '/v1/jobs/1')
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('GET, DELETE')
    const stats = await call('GET', '/v1/queues')
    expect((stats.body.queues as Record<string, { queued: number }>).q?.queued ?? 0).toBe(0)
  })

  it('an oversize body is refused by its content-length before it is read, and while streaming without one', async () => {
    const b = await startBroker({ args: ['--max-payload', '1024'] })
    // content-length says 10 MB: 413 without sending the body at all
    const early = await rawHttp(b.port, `POST /v1/queues/q/jobs HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n`)
    expect(early).toMatch(/^HTTP\/1.1 413/)
    expect(early).toMatch(/payload_too_large/)
    // chunked, no length: refused once the bytes pass the limit (2 × 1024 + 64 KiB)
    const chunk = 'x'.repeat(4000)
    let chunked = `POST /v1/queues/q/jobs HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`
    for (let i = 0; i < 20; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`
    const late = await rawHttp(b.port, chunked)
    expect(late).toMatch(/^HTTP\/1.1 413/)
    const stats = await api(b)('GET', '/v1/queues')
    expect(stats.body.queues).toEqual({})
  })

  it('with --auth-token: 401 without or with a wrong token, the header or access_token works, health needs none', async () => {
    const b = await startBroker({ args: ['--auth-token', 's3cret'] })
    const call = api(b)
    const none = await call('POST', '/v1/queues/q/jobs', { payload: 1 })
    expect(none.status).toBe(401)
    expect(errorOf(none).code).toBe('unauthorized')
    expect(none.headers.get('www-authenticate')).toBe('Bearer')
    expect((await call('GET', '/v1/queues', undefined, { authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await call('GET', '/v1/queues', undefined, { authorization: 's3cret' })).status).toBe(401)
    const ok = await call('POST', '/v1/queues/q/jobs', { payload: 1 }, { authorization: 'Bearer s3cret' })
    expect(ok.status).toBe(201)
    expect((await call('GET', `/v1/jobs/${ok.body.id as string}?access_token=s3cret`)).status).toBe(200)
    expect((await call('GET', `/v1/jobs/${ok.body.id as string}?access_token=s3cre`)).status).toBe(401)
    expect((await call('GET', '/healthz')).body).toEqual({ status: 'ok' })
    expect((await call('GET', '/health')).status).toBe(200)
    expect((await call('GET', '/readyz')).body).toEqual({ status: 'ready' })
  })
})

describe('HTTP API: managing jobs and queues', () => {
  it('cancel, retry, remove, list, pause/resume, settings, redrive and purge behave as the SDK calls', async () => {
    const b = await startBroker()
    const call = api(b)
    const c = await connectClient(b.url)
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await call('POST', '/v1/queues/m/jobs', { payload: i, maxAttempts: 1 })).body.id as string)

    expect((await call('POST', `/v1/jobs/${ids[0]}/cancel`)).body).toEqual({ state: 'cancelled', cancelled: true })
    expect((await call('POST', `/v1/jobs/${ids[0]}/cancel`)).body).toEqual({ state: 'cancelled', cancelled: false })
    expect((await call('POST', `/v1/jobs/${ids[1]}/retry`)).status).toBe(409)
    expect((await call('POST', `/v1/jobs/${ids[0]}/retry`)).body).toEqual({ state: 'queued' })

    const page1 = await call('GET', '/v1/queues/m/jobs?state=queued&limit=2')
    expect((page1.body.jobs as Array<{ id: string }>).map((j) => j.id)).toEqual([ids[2], ids[1]])
    const page2 = await call('GET', `/v1/queues/m/jobs?state=queued&limit=2&cursor=${page1.body.cursor as string}`)
    expect((page2.body.jobs as Array<{ id: string }>).map((j) => j.id)).toEqual([ids[0]])
    expect(page2.body.cursor).toBeUndefined()

    expect((await call('DELETE', `/v1/jobs/${ids[2]}`)).body).toEqual({ state: 'queued' })
    expect((await call('GET', `/v1/jobs/${ids[2]}`)).status).toBe(404)

    expect((await call('POST', '/v1/queues/m/pause')).body).toMatchObject({ name: 'm', paused: true })
    expect((await c.getQueue('m')).paused).toBe(true)
    expect((await call('POST', '/v1/queues/m/resume')).body).toMatchObject({ paused: false })
    const set = await call('PATCH', '/v1/queues/m/settings', { maxLength: 10, backoff: { type: 'fixed', delayMs: 100 } })
    expect(set.body.settings).toEqual({ maxLength: 10, backoff: { type: 'fixed', delayMs: 100 } })
    expect((await call('PATCH', '/v1/queues/m/settings', { maxLength: null })).body.settings).toEqual({
      backoff: { type: 'fixed', delayMs: 100 },
    })

    c.consume('m', () => {
      throw new Error('boom')
    })
    await waitUntil(async () => ((await call('GET', '/v1/queues/m')).body.failed as number) === 2)
    const failed = await call('GET', '/v1/queues/m/jobs?state=failed')
    expect((failed.body.jobs as Array<{ error: { message: string } }>)[0].error.message).toBe('boom')
    await c.pause('m')
    expect((await call('POST', '/v1/queues/m/redrive', { limit: 1 })).body).toEqual({ count: 1 })
    expect((await call('POST', '/v1/queues/m/redrive')).body).toEqual({ count: 1 })
    expect((await call('GET', '/v1/queues/m')).body).toMatchObject({ queued: 2, failed: 0 })
    await c.resume('m')
    await waitUntil(async () => ((await call('GET', '/v1/queues/m')).body.failed as number) === 2)
    expect((await call('DELETE', '/v1/queues/m/jobs?state=failed')).body).toEqual({ count: 2 })
  })

  it('a full queue answers 429 queue_full, or waits for room with waitMs', async () => {
    const b = await startBroker()
    const call = api(b)
    await call('PATCH', '/v1/queues/full/settings', { maxLength: 1 })
    expect((await call('POST', '/v1/queues/full/jobs', { payload: 1 })).status).toBe(201)
    const refused = await call('POST', '/v1/queues/full/jobs', { payload: 2 })
    expect(refused.status).toBe(429)
    expect(errorOf(refused).code).toBe('queue_full')
    const waiting = call('POST', '/v1/queues/full/jobs', { payload: 3, waitMs: 10_000 })
    await sleep(200)
    const c = await connectClient(b.url)
    c.consume('full', () => 'ok')
    const admitted = await waiting
    expect(admitted.status).toBe(201)
  })
})

describe('HTTP API: long poll', () => {
  it('answers as soon as the job changes, or at the end of the wait with the unchanged snapshot', async () => {
    const b = await startBroker()
    const call = api(b)
    const { id } = (await call('POST', '/v1/queues/lp/jobs', { payload: 1 })).body as { id: string }

    const t0 = Date.now()
    const unchanged = await call('GET', `/v1/jobs/${id}?wait=1`)
    const waited = Date.now() - t0
    expect(unchanged.body.state).toBe('queued')
    expect(waited).toBeGreaterThanOrEqual(950)

    // state= the client saw earlier: a change in between answers at once
    const atOnce = await call('GET', `/v1/jobs/${id}?wait=30&state=active`)
    expect(atOnce.body.state).toBe('queued')

    const c = await connectClient(b.url)
    const gate = deferred()
    const changed = call('GET', `/v1/jobs/${id}?wait=30`)
    const done = call('GET', `/v1/jobs/${id}?wait=30&until=done`)
    await sleep(200)
    c.consume('lp', async () => {
      await gate.promise
      return 'finished'
    })
    const first = await changed
    expect(first.body.state).toBe('active') // the first change, while the handler still runs
    gate.resolve()
    const last = await done
    expect(last.body).toMatchObject({ state: 'completed', result: 'finished' })

    // a finished job answers at once, whatever the wait
    const t1 = Date.now()
    expect((await call('GET', `/v1/jobs/${id}?wait=60`)).body.state).toBe('completed')
    expect(Date.now() - t1).toBeLessThan(5_000)
  })

  it('a removed job ends its poll with 404; a client that goes away is freed at once', async () => {
    const b = await startBroker()
    const call = api(b)
    const { id } = (await call('POST', '/v1/queues/lp2/jobs', { payload: 1 })).body as { id: string }
    const polling = call('GET', `/v1/jobs/${id}?wait=30&until=done`)
    await sleep(200)
    await call('DELETE', `/v1/jobs/${id}`)
    const gone = await polling
    expect(gone.status).toBe(404)

    const { id: id2 } = (await call('POST', '/v1/queues/lp2/jobs', { payload: 2 })).body as { id: string }
    const acs = Array.from({ length: 20 }, () => new AbortController())
    const held = acs.map((ac) => fetch(`http://127.0.0.1:${b.port}/v1/jobs/${id2}?wait=60`, { signal: ac.signal }).catch(() => null))
    await waitUntil(async () => ((await call('GET', '/v1/queues')).body.http as { watches: number }).watches === 20)
    for (const ac of acs) ac.abort()
    await Promise.all(held)
    await waitUntil(async () => {
      const http = (await call('GET', '/v1/queues')).body.http as { watches: number; aborted: number }
      return http.watches === 0 && http.aborted === 20
    })
  })
})

describe('HTTP API: Server-Sent Events', () => {
  it('streams the same sequence as watch(), ends after the terminal event, and a resume after the end gets 204', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const { id } = await c.submit('sse', { n: 1 })
    const base = `http://127.0.0.1:${b.port}/v1/jobs/${id}/events`
    const viaSse = readSse(base)
    const viaSdk = (async () => {
      const out = []
      for await (const ev of c.watch(id)) out.push(ev)
      return out
    })()
    await sleep(300)
    const w = await connectClient(b.url)
    let attempt = 0
    w.consume(
      'sse',
      async (_job, ctx) => {
        attempt++
        await ctx.progress(attempt * 10)
        await sleep(20) // lets the progress event out before the next one
        if (attempt === 1) throw new Error('first try fails')
        return { done: attempt }
      },
      {},
    )
    const sse = await viaSse
    const sdk = await viaSdk
    expect(sse.status).toBe(200)
    expect(sse.type).toMatch(/^text\/event-stream/)
    expect(sse.messages.map((m) => m.event)).toEqual(sdk.map((e) => e.type))
    expect(sse.messages.map((m) => m.data)).toEqual(sdk.map((e) => JSON.parse(JSON.stringify(e)) as unknown))
    expect(sse.messages.at(-1)).toMatchObject({ id: `${id}.end`, event: 'completed', data: { result: { done: 2 } } })
    expect(new Set(sse.messages.map((m) => m.id)).size).toBe(sse.messages.length)

    const again = await readSse(base, { 'last-event-id': `${id}.end` })
    expect(again.status).toBe(204)
    // a resume from the middle starts over with a fresh snapshot (here: the finished job, then the end)
    const resumed = await readSse(base, { 'last-event-id': `${id}.1` })
    expect(resumed.messages).toHaveLength(1)
    expect(resumed.messages[0]).toMatchObject({ id: `${id}.end`, event: 'snapshot', data: { state: 'completed', result: { done: 2 } } })
  })

  it('an unknown job is 404 before any stream; a stream of a cancelled job ends with cancelled', async () => {
    const b = await startBroker()
    const call = api(b)
    const missing = await readSse(`http://127.0.0.1:${b.port}/v1/jobs/424242/events`)
    expect(missing.status).toBe(404)
    const { id } = (await call('POST', '/v1/queues/sse2/jobs', { payload: 1 })).body as { id: string }
    const stream = readSse(`http://127.0.0.1:${b.port}/v1/jobs/${id}/events`)
    await sleep(200)
    await call('POST', `/v1/jobs/${id}/cancel`)
    const { messages } = await stream
    expect(messages.map((m) => [m.event, m.data.state])).toEqual([
      ['snapshot', 'queued'],
      ['cancelled', 'cancelled'],
    ])
  })
})

describe('HTTP API: graceful stop', () => {
  it('a held long poll answers 503 shutting_down and an open event stream ends when the broker stops', async () => {
    const b = await startBroker()
    const call = api(b)
    const { id } = (await call('POST', '/v1/queues/stop/jobs', { payload: 1 })).body as { id: string }
    const polling = call('GET', `/v1/jobs/${id}?wait=60&until=done`)
    const stream = readSse(`http://127.0.0.1:${b.port}/v1/jobs/${id}/events`, {}, 20_000)
    await waitUntil(async () => ((await call('GET', '/v1/queues')).body.http as { watches: number }).watches === 2)
    const t0 = Date.now()
    expect(await b.stop()).toBe(0)
    const poll = await polling
    expect(poll.status).toBe(503)
    expect(errorOf(poll).code).toBe('shutting_down')
    const { messages } = await stream
    expect(Date.now() - t0).toBeLessThan(15_000) // ended by the stop, not by the reader's deadline
    expect(messages.map((m) => m.event)).toEqual(['snapshot'])
  })
})

// ---- helpers ----------------------------------------------------------------------------------

function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1')
    let out = ''
    const timer = setTimeout(() => {
      s.destroy()
      resolve(out)
    }, 3_000)
    s.on('data', (d) => {
      out += d.toString()
      if (out.includes('\r\n\r\n') && /\}$/.test(out)) {
        clearTimeout(timer)
        s.destroy()
        resolve(out)
      }
    })
    s.on('error', (err) => {
      clearTimeout(timer)
      if (out !== '') resolve(out)
      else reject(err)
    })
    s.write(request)
  })
}

async function waitUntil(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error('condition not reached in time')
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
