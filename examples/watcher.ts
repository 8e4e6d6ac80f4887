// examples/watcher.ts: watches a job (the id given as first argument, or a job it submits itself)
// and prints its snapshot and every event until the job completes or fails. The README shows this
// file verbatim (with `from 'brokerd'`); test/integration/examples.test.ts runs it and checks the
// two stay in sync.
import { connect } from '../clients/index.js'

const url = process.env.BROKERD_URL ?? 'ws://127.0.0.1:7700'
const broker = await connect(url)

const id = process.argv[2] ?? (await broker.submit('emails', { to: 'linus@example.com', subject: 'Build finished' })).id
console.log(`watching job ${id}`)

// First item: the job's state right now (type 'snapshot'); then each transition, with no gap
// between the two. The iteration ends by itself after `completed` or `failed`.
for await (const ev of broker.watch(id, { signal: AbortSignal.timeout(60_000) })) {
  const data = ev.result ?? ev.progress ?? ev.error
  console.log(`${ev.type} -> ${ev.state} (attempt ${ev.attempt})${data === undefined ? '' : ` ${JSON.stringify(data)}`}`)
}
await broker.close()
