// Wires the daemon together: store → broker (recovery) → uWS app (WebSocket /v1, the HTTP API
// under /v1/…, health) → listen. `stop()` is the graceful shutdown: stop accepting and dispatching, commit, close.

import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import { Broker } from './broker.js'
import { Session, type SessionConfig } from './session.js'
import { Store, type Durability } from './store.js'
import { createApp, listen, remoteAddress, socketOf, type App, type HttpResponse, type WebSocket } from './uws.js'
import { HttpTopics } from './http/job-watch.js'
import { Reply } from './http/reply.js'
import { HttpApi } from './http/routes.js'
import { BrokerError } from '../protocol/errors.js'
import { CloseCode, Limits, WS_PATH } from '../protocol/ops.js'

export interface ServerConfig {
  host: string
  port: number
  /** SQLite file, or ':memory:'. */
  data: string
  durability: Durability
  maxPayload: number
  leaseMs: number
  retentionMs: number
  authToken: string | null
  payloadCacheBytes: number
  version: string
}

export interface RunningServer {
  port: number
  stop(): Promise<void>
}

interface UserData {
  session: Session | null
  remote: string
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  if (config.data !== ':memory:') mkdirSync(dirname(config.data), { recursive: true })
  let store: Store
  try {
    store = new Store(config.data, config.durability)
  } catch (err) {
    throw new Error(`cannot open the data file ${config.data}: ${(err as Error).message} (is another brokerd using it?)`, { cause: err })
  }
  const app = createApp()
  // Job events go to WebSockets through uWS pub/sub, and to HTTP watchers through the tap.
  const httpTopics = new HttpTopics()
  const broker = new Broker(
    store,
    {
      publish: (topic, frame) => {
        app.publish(topic, frame, true, false)
        httpTopics.publish(topic, frame)
      },
    },
    {
      leaseMs: config.leaseMs,
      retentionMs: config.retentionMs,
      payloadCacheBytes: config.payloadCacheBytes,
      // Tests only: widens the window of a deferred completion commit so a kill -9 can land in it.
      deferCommitMs: process.env.BROKERD_TEST_DEFER_COMMIT_MS ? Number(process.env.BROKERD_TEST_DEFER_COMMIT_MS) : undefined,
    },
    log,
  )
  const started = performance.now()
  const recovered = broker.recover()
  log.info({ ...recovered, ms: Math.round(performance.now() - started), data: config.data, durability: config.durability }, 'recovered')

  const maxFrame = Limits.frameBase + config.maxPayload + 64 * 1024
  const sessionConfig: SessionConfig = {
    authToken: config.authToken,
    maxPayload: config.maxPayload,
    maxFrame,
    leaseMs: config.leaseMs,
    serverName: `brokerd/${config.version}`,
  }
  const sockets = new Set<WebSocket<UserData>>()

  app.ws<UserData>(WS_PATH, {
    compression: 0,
    maxPayloadLength: maxFrame,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // Far above our own slow-consumer mark (1 MiB): reaching it means the peer stopped reading,
    // and closing is better than uWS silently dropping a frame.
    maxBackpressure: 64 * 1024 * 1024,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      res.upgrade<UserData>(
        { session: null, remote: remoteAddress(res) },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      )
    },
    open: (ws) => {
      const data = ws.getUserData()
      data.session = new Session(socketOf(ws), broker, sessionConfig, log, data.remote)
      sockets.add(ws)
      log.info({ remote: data.remote, connections: sockets.size }, 'connection open')
    },
    message: (ws, message, isBinary) => {
      ws.getUserData().session?.onFrame(new Uint8Array(message), isBinary)
    },
    drain: (ws) => ws.getUserData().session?.onDrain(),
    close: (ws, code) => {
      const data = ws.getUserData()
      sockets.delete(ws)
      data.session?.onClose()
      log.info({ remote: data.remote, code, connections: sockets.size }, 'connection closed')
    },
  })
  const http = new HttpApi(broker, { authToken: config.authToken, maxPayload: config.maxPayload }, httpTopics, log)
  http.register(app)
  const health = (res: HttpResponse) => new Reply(res).json('200 OK', { status: broker.stopping ? 'stopping' : 'ok' })
  app.get('/health', health)
  app.get('/healthz', health)
  app.get('/readyz', (res) => {
    if (broker.stopping) new Reply(res).json('503 Service Unavailable', { status: 'stopping' })
    else new Reply(res).json('200 OK', { status: 'ready' })
  })
  app.any('/*', (res) => {
    new Reply(res).error(
      new BrokerError('not_found', `no such path: the HTTP API is under /v1/ (protocol/HTTP.md); WebSocket clients connect to ${WS_PATH}`),
    )
  })

  const listener = await listenWithRetry(app, config.host, config.port, log)
  broker.startTimers()
  log.info({ host: config.host, port: listener.port }, 'listening')

  let stopping: Promise<void> | null = null
  return {
    port: listener.port,
    stop() {
      stopping ??= (async () => {
        broker.stopping = true
        broker.stopTimers()
        listener.close()
        http.watches.closeAll()
        broker.flush()
        for (const ws of [...sockets]) ws.end(CloseCode.goingAway, 'broker stopping')
        broker.flush()
        store.close()
        log.info('stopped')
      })()
      return stopping
    },
  }
}

/**
 * A port can be busy for a moment after a restart (a client's reconnect loop can even
 * self-connect to a free ephemeral port): retry for a few seconds before giving up.
 */
async function listenWithRetry(app: App, host: string, port: number, log: Logger): Promise<{ port: number; close(): void }> {
  const deadline = Date.now() + 5_000
  for (;;) {
    try {
      return await listen(app, host, port)
    } catch (err) {
      if (port === 0 || Date.now() >= deadline) throw err
      log.warn({ host, port }, 'port busy; retrying')
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
