// examples/producer.ts: submits two `emails` jobs and waits for their results (needs a running
// worker: examples/worker.ts), then exits. The README shows this file verbatim (with
// `from 'brokerd'`); test/integration/examples.test.ts runs it and checks the two stay in sync.
import { connect, JobFailedError } from '../clients/index.js'

interface Receipt {
  messageId: string
  to: string
}

const url = process.env.BROKERD_URL ?? 'ws://127.0.0.1:7700'
const broker = await connect(url)

// submit() resolves once the job is durably stored, not when it ran. With an idempotency key,
// submitting again (e.g. after a crash of this process) returns the same job: duplicate = true.
const { id, duplicate } = await broker.submit('emails', { to: 'ada@example.com', subject: 'Welcome' }, { key: 'welcome:ada' })
console.log(`submitted job ${id}${duplicate ? ' (already submitted before)' : ''}`)
const receipt = await broker.result<Receipt>(id, { timeoutMs: 30_000 })
console.log(`job ${id} completed: ${JSON.stringify(receipt)}`)

// run() = submit and wait for the result, in one round trip.
try {
  const r = await broker.run<Receipt>('emails', { to: 'grace@example.com', subject: 'Your report' }, { maxAttempts: 5, timeoutMs: 30_000 })
  console.log(`run() completed: ${JSON.stringify(r)}`)
} catch (err) {
  // JobFailedError: every attempt failed (err.error is the last handler error);
  // BrokerError with code 'timeout': no result within timeoutMs (the job itself goes on).
  if (err instanceof JobFailedError) console.error(`run() failed: ${err.error?.message}`)
  else throw err
} finally {
  await broker.close()
}
