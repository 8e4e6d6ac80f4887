// The runnable examples (examples/*.ts, compiled to dist/examples/) against the real daemon, as a
// user runs them: worker, producer and watcher are separate processes. Also checks that the
// README shows exactly these files, so the documented code is the tested code.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, onCleanup, startBroker, waitFor, withTimeout } from '../helpers/broker.js'

const EXAMPLES = ['worker', 'producer', 'watcher', 'lifecycle']

interface ExampleRun {
  /** stdout + stderr lines so far. */
  lines: string[]
  /** Resolves with the exit code once the process ended by itself. */
  exited: Promise<number | null>
}

/** Runs `node dist/examples/<name>.js ...args` with BROKERD_URL set; killed after the test. */
function runExample(name: string, url: string, args: string[] = []): ExampleRun {
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'examples', `${name}.js`), ...args], {
    cwd: ROOT,
    env: { ...process.env, BROKERD_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const onData = (prefix: string) => (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(prefix + line)
  }
  proc.stdout.on('data', onData(''))
  proc.stderr.on('data', onData('[stderr] '))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  return { lines, exited }
}

/** Waits (bounded) for the example to exit by itself; fails with its output otherwise. */
async function exitCode(run: ExampleRun, name: string, timeoutMs = 20_000): Promise<number | null> {
  try {
    return await withTimeout(run.exited, timeoutMs, `examples/${name}`)
  } catch (err) {
    throw new Error(`${(err as Error).message}\noutput:\n${run.lines.join('\n')}`, { cause: err })
  }
}

describe('examples', () => {
  it('worker, producer and watcher run against a real broker and exit by themselves', async () => {
    const b = await startBroker()
    const worker = runExample('worker', b.url, ['3'])
    await waitFor(() => worker.lines.some((l) => l.startsWith('worker: waiting for jobs')), 10_000, 'the worker to start')

    const producer = runExample('producer', b.url)
    expect(await exitCode(producer, 'producer'), producer.lines.join('\n')).toBe(0)
    expect(producer.lines).toEqual([
      'submitted job 1',
      'job 1 completed: {"messageId":"msg-1","to":"ada@example.com"}',
      'run() completed: {"messageId":"msg-2","to":"grace@example.com"}',
    ])

    const watcher = runExample('watcher', b.url)
    expect(await exitCode(watcher, 'watcher'), watcher.lines.join('\n')).toBe(0)
    expect(watcher.lines[0]).toBe('watching job 3')
    expect(watcher.lines[1]).toMatch(/^snapshot -> (queued|active) \(attempt [01]\)/)
    expect(watcher.lines.at(-1)).toBe('completed -> completed (attempt 1) {"messageId":"msg-3","to":"linus@example.com"}')

    // The third job was its last: it drains and exits on its own.
    expect(await exitCode(worker, 'worker'), worker.lines.join('\n')).toBe(0)
    expect(worker.lines.filter((l) => l.startsWith('job '))).toHaveLength(3)
    expect(worker.lines.at(-1)).toBe('worker: handled 3 jobs, bye')
  })

  it('the watcher follows a job given by id, and the producer gets the same job back for the same key', async () => {
    const b = await startBroker()
    const worker = runExample('worker', b.url, ['3'])
    const first = runExample('producer', b.url)
    expect(await exitCode(first, 'producer')).toBe(0)

    // Job 1 is completed and retained: watching it yields the final snapshot only.
    const watcher = runExample('watcher', b.url, ['1'])
    expect(await exitCode(watcher, 'watcher')).toBe(0)
    expect(watcher.lines).toEqual(['watching job 1', 'snapshot -> completed (attempt 1) {"messageId":"msg-1","to":"ada@example.com"}'])

    // A second producer run: the idempotency key returns job 1 (not a new job); its run() job
    // (job 3) is the worker's third and last.
    const second = runExample('producer', b.url)
    expect(await exitCode(second, 'producer')).toBe(0)
    expect(second.lines[0]).toBe('submitted job 1 (already submitted before)')
    expect(second.lines[2]).toBe('run() completed: {"messageId":"msg-3","to":"grace@example.com"}')
    expect(await exitCode(worker, 'worker')).toBe(0)
  })

  it('the lifecycle example: settings, priorities, a delay, backoff, a cancel and a redriven dead letter, in that order', async () => {
    const b = await startBroker()
    const run = runExample('lifecycle', b.url)
    expect(await exitCode(run, 'lifecycle'), run.lines.join('\n')).toBe(0)
    const lines = run.lines
    // the redriven job may start before or after the redrive's reply is printed (same frame)
    const redrive = lines.indexOf('redrive: {"count":1}')
    const tail = lines.slice(redrive - 1, redrive + 1).sort()
    expect([...lines.slice(0, redrive - 1), ...tail, ...lines.slice(redrive + 1)]).toEqual([
      'cancel stale: {"state":"cancelled","cancelled":true}',
      'run dashboard (attempt 1)',
      'run weekly (attempt 1)',
      'run flaky (attempt 1)',
      'run broken (attempt 1)',
      'run flaky (attempt 2)',
      'run flaky (attempt 3)',
      'flaky: flaky.pdf',
      'run nightly (attempt 1)',
      'nightly: nightly.pdf',
      'dead letters: template missing',
      'redrive: {"count":1}',
      'run broken (attempt 1)',
      'broken: broken.pdf',
      'stale: cancelled',
      'reports: {"queued":0,"delayed":0,"completed":5,"failed":0,"cancelled":1}',
    ])
  })

  it('the README shows each example file verbatim (importing from the package name)', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    for (const name of EXAMPLES) {
      const source = readFileSync(path.join(ROOT, 'examples', `${name}.ts`), 'utf8')
      const asDocumented = source.replace("from '../clients/index.js'", "from 'brokerd'")
      expect(readme.includes('```ts\n' + asDocumented + '```\n'), `README.md must contain examples/${name}.ts verbatim`).toBe(true)
    }
  })
})
