// examples/worker.ts: handles `emails` jobs, reporting progress, then drains and exits after
// MAX_JOBS jobs (first argument, default 3) or 60 s. The README shows this file verbatim (with
// `from 'brokerd'`); test/integration/examples.test.ts runs it and checks the two stay in sync.
import { connect } from '../clients/index.js'

interface Email {
  to: string
  subject: string
}
interface Receipt {
  messageId: string
  to: string
}

const url = process.env.BROKERD_URL ?? 'ws://127.0.0.1:7700'
const maxJobs = Number(process.argv[2] ?? 3)
const broker = await connect(url)

let handled = 0
let finish!: () => void
const finished = new Promise<void>((resolve) => (finish = resolve))
const giveUp = setTimeout(finish, 60_000)

// Up to 4 handlers run at once; the broker pushes a job as soon as one is free (no polling).
// Delivery is at-least-once: a handler may run twice for one job, so make it idempotent.
const worker = broker.consume<Email, Receipt>(
  'emails',
  async (job, ctx) => {
    console.log(`job ${job.id} (attempt ${job.attempt}): sending "${job.payload.subject}" to ${job.payload.to}`)
    ctx.progress({ step: 'rendering' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    ctx.progress({ step: 'sending' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (++handled >= maxJobs) finish()
    return { messageId: `msg-${job.id}`, to: job.payload.to } // the job's result: acked, kept for watchers
  },
  { concurrency: 4 },
)
console.log(`worker: waiting for jobs on ${url}`)

await finished
clearTimeout(giveUp)
await worker.close() // stop taking jobs, let running handlers finish and ack
await broker.close()
console.log(`worker: handled ${handled} jobs, bye`)
