// The only module that imports uWebSockets.js: swap the npm alias in package.json for the official
// build and nothing else changes. It adapts a uWS WebSocket to the Session's Socket interface.

import uWS from 'uWebSockets.js'
import type { Socket } from './session.js'

export type App = uWS.TemplatedApp
export type WebSocket<T> = uWS.WebSocket<T>
export type HttpResponse = uWS.HttpResponse
export type HttpRequest = uWS.HttpRequest

export function createApp(): App {
  return uWS.App()
}

/** Listens on host:port (0 = any free port); resolves with the real port and a closer. */
export function listen(app: App, host: string, port: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token) => {
      if (!token) return reject(new Error(`cannot listen on ${host}:${port} (in use, or not an address of this machine)`))
      resolve({ port: uWS.us_socket_local_port(token), close: () => uWS.us_listen_socket_close(token) })
    })
  })
}

/** A Session's view of a uWS WebSocket. Sends are corked so that one frame is one write. */
export function socketOf<T>(ws: uWS.WebSocket<T>): Socket {
  return {
    send(frame) {
      let status = 0
      ws.cork(() => {
        status = ws.send(frame, true, false)
      })
      return status === 1 // 1 sent, 0 buffered (backpressure), 2 dropped
    },
    bufferedAmount: () => ws.getBufferedAmount(),
    end: (code, reason) => ws.end(code, reason),
    subscribe: (topic) => void ws.subscribe(topic),
    unsubscribe: (topic) => void ws.unsubscribe(topic),
  }
}

export function remoteAddress(res: uWS.HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString()
}
