// The brokerd SDK: `connect()` gives a Broker with submit / run / consume / watch / result / pop /
// get, job management (cancel, retry, remove, listJobs, redrive, purge) and queue management
// (pause, resume, configureQueue, getQueue, stats). Works in Node (via `ws`) and in browsers.

export { connect, Broker } from './client.js'
export { JobFailedError, JobCancelledError } from './errors.js'
export { BrokerError } from '../protocol/errors.js'
export { UnrecoverableError } from './worker.js'
export type * from './types.js'
