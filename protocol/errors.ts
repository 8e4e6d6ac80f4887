// The typed error shared by the daemon and the SDK: a stable `code` from PROTOCOL.md §7 and a
// message that says what to do. The daemon throws it while handling a request; the SDK rejects
// with it when the broker answers `error`.

import type { ErrorCodeName } from './ops.js'

export class BrokerError extends Error {
  override readonly name = 'BrokerError'
  constructor(
    readonly code: ErrorCodeName | 'connection_lost' | 'timeout' | 'closed' | 'aborted',
    message: string,
    /** The job the error is about, when there is one. */
    readonly jobId?: number,
  ) {
    super(message)
  }
}
