// The brokerd SDK: `connect()` gives a Broker with submit / consume / watch / result / pop / get.
// Works in Node (via `ws`) and in browsers (global WebSocket).

export { connect, Broker } from './client.js'
export { JobFailedError, JobCancelledError } from './errors.js'
export { BrokerError } from '../protocol/errors.js'
export { UnrecoverableError } from './worker.js'
export type * from './types.js'
