// examples/lifecycle.ts: a job's whole life in one script, with its own worker: queue settings,
// priorities, a delayed job, retries with backoff, a cancelled job, and a dead letter sent back
// after the bug is fixed. The README shows this file verbatim (with `from 'brokerd'`);
// test/integration/examples.test.ts runs it and checks the two stay in sync.
import { connect, JobCancelledError, UnrecoverableError } from 'brokerd'

const url = process.env.BROKERD_URL ?? 'ws://127.0.0.1:7700'
const broker = await connect(url)

// Settings are defaults for jobs submitted afterwards (a job's own options win), plus a limit:
// past 1,000 waiting jobs a submit fails with queue_full (or waits, with { waitMs }).
await broker.configureQueue('reports', { maxAttempts: 3, backoff: { type: 'exponential', delayMs: 200 }, maxLength: 1_000 })

// Paused while we fill it: it takes submits but dispatches nothing, so priorities decide the order.
await broker.pause('reports')
await broker.submit('reports', { name: 'weekly' })
await broker.submit('reports', { name: 'dashboard' }, { priority: 10 }) // higher runs first
const nightly = await broker.submit('reports', { name: 'nightly' }, { delayMs: 1_500 }) // `delayed` until then
const flaky = await broker.submit('reports', { name: 'flaky' }) // fails twice, waits 200 then 400 ms
const broken = await broker.submit('reports', { name: 'broken' })
const stale = await broker.submit('reports', { name: 'stale' })
console.log(`cancel stale: ${JSON.stringify(await broker.cancel(stale.id))}`)

let bugFixed = false
const worker = broker.consume<{ name: string }>(
  'reports',
  (job) => {
    const { name } = job.payload
    console.log(`run ${name} (attempt ${job.attempt})`)
    if (name === 'flaky' && job.attempt < 3) throw new Error('upstream busy') // retried after the backoff
    if (name === 'broken' && !bugFixed) throw new UnrecoverableError('template missing') // failed now: a dead letter
    return `${name}.pdf`
  },
  { concurrency: 1 },
)
await broker.resume('reports')

console.log(`flaky: ${await broker.result(flaky.id)}`)
console.log(`nightly: ${await broker.result(nightly.id)}`)

// Dead letters stay listed (newest first) until purged or their retention ends.
const dead = await broker.listJobs('reports', { state: 'failed' })
console.log(`dead letters: ${dead.jobs.map((j) => j.error?.message).join(', ')}`)
bugFixed = true
console.log(`redrive: ${JSON.stringify(await broker.redrive('reports'))}`)
console.log(`broken: ${await broker.result(broken.id)}`)

try {
  await broker.result(stale.id)
} catch (err) {
  if (err instanceof JobCancelledError) console.log('stale: cancelled')
  else throw err
}
const { queued, delayed, completed, failed, cancelled } = await broker.getQueue('reports')
console.log(`reports: ${JSON.stringify({ queued, delayed, completed, failed, cancelled })}`)
await worker.close()
await broker.close()
