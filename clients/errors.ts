// Errors about a job's outcome that the SDK throws from result() / run(). Errors of a request
// itself are BrokerError (protocol/errors.ts), with the protocol's codes plus the SDK's own.

import type { ErrorInfo } from './types.js'

/** The job ended `failed`; `error` is what the last attempt's handler threw. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError'
  readonly code = 'job_failed'
  constructor(
    readonly jobId: string,
    readonly error: ErrorInfo | undefined,
  ) {
    super(`job ${jobId} failed: ${error?.message ?? 'no error message'}`)
  }
}

/**
 * The job ended `cancelled`: result() and run() reject with it, and a handler's `ctx.signal` is
 * aborted with it as the reason when its job is cancelled while running.
 */
export class JobCancelledError extends Error {
  override readonly name = 'JobCancelledError'
  readonly code = 'job_cancelled'
  constructor(readonly jobId: string) {
    super(`job ${jobId} was cancelled`)
  }
}
