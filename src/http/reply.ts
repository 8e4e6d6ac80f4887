// One HTTP response on uWS: remembers whether the client went away (uWS forbids touching an
// aborted response), writes corked (one syscall), and maps BrokerError codes to statuses.

import { BrokerError } from '../../protocol/errors.js'
import type { HttpResponse } from '../uws.js'

const STATUS: Record<string, string> = {
  bad_request: '400 Bad Request',
  bad_frame: '400 Bad Request',
  unknown_op: '400 Bad Request',
  unsupported_version: '400 Bad Request',
  unauthorized: '401 Unauthorized',
  not_found: '404 Not Found',
  conflict: '409 Conflict',
  lease_expired: '409 Conflict',
  payload_too_large: '413 Payload Too Large',
  queue_full: '429 Too Many Requests',
  internal: '500 Internal Server Error',
  shutting_down: '503 Service Unavailable',
}

export class Reply {
  /** The client went away; nothing may be written any more. */
  aborted = false
  /** The response was ended (or the client went away). */
  done = false
  /** Called once if the client goes away before the response ended. */
  onAbort: (() => void) | null = null

  constructor(readonly res: HttpResponse) {
    res.onAborted(() => {
      this.aborted = true
      this.done = true
      this.onAbort?.()
    })
  }

  json(status: string, body: unknown, headers?: Record<string, string>): void {
    if (this.done) return
    this.done = true
    const text = JSON.stringify(body)
    this.res.cork(() => {
      this.res.writeStatus(status).writeHeader('content-type', 'application/json')
      if (headers !== undefined) for (const k in headers) this.res.writeHeader(k, headers[k])
      this.res.end(text)
    })
  }

  error(err: unknown, headers?: Record<string, string>): void {
    const e = err instanceof BrokerError ? err : new BrokerError('internal', 'the broker failed on this request (a bug, logged)')
    const body: { code: string; message: string; jobId?: string } = { code: e.code, message: e.message }
    if (e.jobId !== undefined) body.jobId = String(e.jobId)
    this.json(STATUS[e.code] ?? '500 Internal Server Error', { error: body }, headers)
  }

  /** Starts a stream (SSE): status and headers now, `write` later, `end` to finish. */
  open(status: string, headers: Record<string, string>, first: string): void {
    if (this.done) return
    this.res.cork(() => {
      this.res.writeStatus(status)
      for (const k in headers) this.res.writeHeader(k, headers[k])
      this.res.write(first)
    })
  }

  write(text: string): void {
    if (this.done) return
    this.res.cork(() => void this.res.write(text))
  }

  end(text = ''): void {
    if (this.done) return
    this.done = true
    this.res.cork(() => void this.res.end(text))
  }

  /** Ends with no body (204 No Content). */
  empty(status: string): void {
    if (this.done) return
    this.done = true
    this.res.cork(() => void this.res.writeStatus(status).end())
  }
}
