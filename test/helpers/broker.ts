// Test harness for integration tests: starts the real daemon (dist/src/cli.js) as a child process
// on its own temp SQLite file, spawns fixture worker processes, and tracks everything it started
// so `cleanupAll()` (run after every test by setup.ts) can kill it even when a test failed.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { connect } from '../../clients/index.js'
import type { ConnectOptions } from '../../clients/types.js'

export const ROOT = path.resolve(import.meta.dirname, '..', '..')
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js')
const FIXTURES = path.join(ROOT, 'test', 'fixtures')
const STARTUP_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

export interface StartOptions {
  /** Extra CLI flags, e.g. ['--lease-ms', '1000']. A flag given here overrides the default. */
  args?: string[]
  /** Reuse this directory (and its brokerd.db) instead of a fresh temp dir. */
  dataDir?: string
  env?: NodeJS.ProcessEnv
}

export interface RunningBroker {
  /** ws://127.0.0.1:PORT (no path: the SDK appends /v1). */
  url: string
  port: number
  dataDir: string
  dbPath: string
  proc: ChildProcess
  /** Every stdout/stderr line the daemon printed so far. */
  logs: string[]
  /** The flags it was started with (after merging defaults). */
  args: string[]
  /** true while the process has not exited. */
  readonly alive: boolean
  /** kill -9 and wait for the exit. */
  kill9(): Promise<void>
  /** SIGTERM and wait for the exit; resolves with the exit code (128 + n if killed by signal n). */
  stop(signal?: NodeJS.Signals): Promise<number>
  /** Starts a new daemon on the same data file (this one must have exited); `extraArgs` override flags. */
  restart(extraArgs?: string[]): Promise<RunningBroker>
}

// ---- tracking, so nothing outlives its test ---------------------------------------------------

const liveProcs = new Set<ChildProcess>()
const tempDirs = new Set<string>()
const closers: Array<() => Promise<unknown>> = []
const brokersOfTest: RunningBroker[] = []

process.on('exit', () => {
  // Last resort when the runner itself exits abruptly: never leave a daemon behind.
  for (const p of liveProcs) p.kill('SIGKILL')
})

/** Registers something to close at the end of the test (before processes are killed). */
export function onCleanup(close: () => Promise<unknown>): void {
  closers.push(close)
}

export async function cleanupAll(): Promise<void> {
  // Clients first (bounded: a client of a dead broker may never finish closing), then processes.
  const pending = closers.splice(0).reverse()
  await Promise.all(pending.map((close) => withTimeout(Promise.resolve().then(close), 3_000, 'close').catch(() => {})))
  await Promise.all([...liveProcs].map((p) => killAndWait(p)))
  brokersOfTest.length = 0
  const dirs = [...tempDirs]
  tempDirs.clear()
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }).catch(() => {})))
}

/** Prints the tail of each broker's log of the current test (called when a test failed). */
export function dumpLogsOfFailedTest(): void {
  for (const b of brokersOfTest) {
    const tail = b.logs.slice(-40).join('\n')
    console.log(`---- broker :${b.port} (${b.dataDir}) last log lines ----\n${tail}`)
  }
}

function killAndWait(p: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) {
    liveProcs.delete(p)
    return Promise.resolve()
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => resolve(), timeoutMs)
    p.once('exit', () => {
      clearTimeout(timer)
      liveProcs.delete(p)
      resolve()
    })
    p.kill('SIGKILL')
  })
}

// ---- small bounded utilities ------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Polls `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (throws,
 * with `what` and the last error thrown by the predicate, if any).
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  what = 'condition',
  intervalMs = 10,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await predicate()
      if (value) return value as NonNullable<T>
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${String(lastError)})` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
    }
    await sleep(intervalMs)
  }
}

/** A promise with its resolve function outside (for handlers the test releases). */
export interface Gate<T = void> {
  promise: Promise<T>
  open: (v: T) => void
}

export function gate<T = void>(): Gate<T> {
  let open!: (v: T) => void
  const promise = new Promise<T>((r) => (open = r))
  return { promise, open }
}

/**
 * Reads an async iterator until it ends, `max` items were read, or `timeoutMs` passed; returns
 * the items and whether it ended by itself. The iterator is closed (return()) in every case.
 */
export async function collect<T>(
  iterable: AsyncIterable<T>,
  opts: { timeoutMs: number; max?: number; onItem?: (item: T) => void },
): Promise<{ items: T[]; ended: boolean }> {
  const it = iterable[Symbol.asyncIterator]()
  const items: T[] = []
  const max = opts.max ?? 10_000
  const deadline = Date.now() + opts.timeoutMs
  let ended = false
  try {
    while (items.length < max) {
      const left = deadline - Date.now()
      if (left <= 0) break
      let r: IteratorResult<T>
      try {
        r = await withTimeout(it.next(), left, 'iterator.next()')
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('iterator.next()')) break
        throw err
      }
      if (r.done) {
        ended = true
        break
      }
      items.push(r.value)
      opts.onItem?.(r.value)
    }
  } finally {
    if (!ended) await withTimeout(Promise.resolve(it.return?.()), 1_000, 'iterator.return()').catch(() => {})
  }
  return { items, ended }
}

// ---- the daemon -------------------------------------------------------------------------------

/** Merges `--flag value` lists; a flag in `overrides` replaces the same flag in `base`. */
export function mergeArgs(base: string[], overrides: string[]): string[] {
  const parse = (args: string[]): Array<[string, string | null]> => {
    const out: Array<[string, string | null]> = []
    for (let i = 0; i < args.length; i++) {
      const a = args[i]
      if (a.startsWith('--') && a.includes('=')) {
        const eq = a.indexOf('=')
        out.push([a.slice(0, eq), a.slice(eq + 1)])
      } else if (a.startsWith('--') && i + 1 < args.length && !args[i + 1].startsWith('--')) {
        out.push([a, args[++i]])
      } else out.push([a, null])
    }
    return out
  }
  const merged = new Map<string, string | null>(parse(base))
  for (const [k, v] of parse(overrides)) merged.set(k, v)
  return [...merged].flatMap(([k, v]) => (v === null ? [k] : [k, v]))
}

export async function startBroker(opts: StartOptions = {}): Promise<RunningBroker> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'brokerd-test-')))
  tempDirs.add(dataDir)
  const dbPath = path.join(dataDir, 'brokerd.db')
  const args = mergeArgs(['--port', '0', '--data', dbPath, '--log-level', 'info'], opts.args ?? [])

  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  liveProcs.add(proc)
  proc.once('exit', () => liveProcs.delete(proc))
  const logs: string[] = []

  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer)
      proc.kill('SIGKILL')
      reject(new Error(`brokerd did not start: ${why}\nargs: ${args.join(' ')}\nlogs:\n${logs.slice(-60).join('\n')}`))
    }
    const timer = setTimeout(() => fail(`no "listening" line within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS)
    const onLine = (line: string): void => {
      logs.push(line)
      if (!line.includes('listening')) return
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number }
        if (rec.msg === 'listening' && typeof rec.port === 'number') {
          clearTimeout(timer)
          proc.off('exit', onExit)
          resolve(rec.port)
        }
      } catch {
        // not JSON: keep waiting
      }
    }
    const onExit = (code: number | null, signal: string | null): void => {
      // let the last output arrive before reporting
      setTimeout(() => fail(`exited early (code ${code}, signal ${signal})`), 50)
    }
    lineReader(proc.stdout!, onLine)
    lineReader(proc.stderr!, (l) => logs.push(`[stderr] ${l}`))
    proc.once('exit', onExit)
  })

  const broker: RunningBroker = {
    url: `ws://127.0.0.1:${port}`,
    port,
    dataDir,
    dbPath,
    proc,
    logs,
    args,
    get alive() {
      return proc.exitCode === null && proc.signalCode === null
    },
    async kill9() {
      await killAndWait(proc)
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!broker.alive) return exitCodeOf(proc)
      const exited = new Promise<void>((r) => proc.once('exit', () => r()))
      proc.kill(signal)
      try {
        await withTimeout(exited, STOP_TIMEOUT_MS, `broker stop (${signal})`)
      } catch (err) {
        await killAndWait(proc)
        throw err
      }
      return exitCodeOf(proc)
    },
    async restart(extraArgs: string[] = []) {
      if (broker.alive) throw new Error('restart(): the broker is still running; stop() or kill9() it first')
      return startBroker({ args: mergeArgs(opts.args ?? [], extraArgs), dataDir, env: opts.env })
    },
  }
  brokersOfTest.push(broker)
  return broker
}

function exitCodeOf(p: ChildProcess): number {
  if (p.exitCode !== null) return p.exitCode
  const sig = p.signalCode ? os.constants.signals[p.signalCode] : 0
  return 128 + (sig ?? 0)
}

function lineReader(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim()) onLine(line)
    }
  })
  stream.on('end', () => {
    if (buf.trim()) onLine(buf)
    buf = ''
  })
}

// ---- SDK clients ------------------------------------------------------------------------------

export type Client = Awaited<ReturnType<typeof connect>>

/** connect() whose client is closed after the test. Tests default to reconnect: false. */
export async function connectClient(url: string, opts: ConnectOptions = {}): Promise<Client> {
  const client = await connect(url, { reconnect: false, ...opts })
  onCleanup(() => client.close())
  return client
}

// ---- fixture worker processes -----------------------------------------------------------------

export interface WorkerProcess {
  proc: ChildProcess
  /** Parsed JSON lines the fixture printed on stdout, in order. */
  messages: Array<Record<string, unknown>>
  /** Every line (stdout and stderr) for diagnostics. */
  lines: string[]
  /** Waits (bounded) for a message matching `pred`; returns it. */
  waitForMessage(pred: (m: Record<string, unknown>) => boolean, timeoutMs: number, what?: string): Promise<Record<string, unknown>>
  kill9(): Promise<void>
  readonly alive: boolean
}

/** Runs `node test/fixtures/<script> ...args`; the fixture reports through stdout JSON lines. */
export function spawnWorker(script: string, args: string[] = []): WorkerProcess {
  const proc = spawn(process.execPath, [path.join(FIXTURES, script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  liveProcs.add(proc)
  proc.once('exit', () => liveProcs.delete(proc))
  const messages: Array<Record<string, unknown>> = []
  const lines: string[] = []
  lineReader(proc.stdout!, (line) => {
    lines.push(line)
    try {
      const v = JSON.parse(line) as unknown
      if (v && typeof v === 'object') messages.push(v as Record<string, unknown>)
    } catch {
      // free text: kept in lines only
    }
  })
  lineReader(proc.stderr!, (line) => lines.push(`[stderr] ${line}`))
  const w: WorkerProcess = {
    proc,
    messages,
    lines,
    get alive() {
      return proc.exitCode === null && proc.signalCode === null
    },
    async waitForMessage(pred, timeoutMs, what = 'a worker message') {
      try {
        return await waitFor(() => messages.find(pred), timeoutMs, what)
      } catch (err) {
        throw new Error(`${(err as Error).message}\nworker output:\n${lines.slice(-30).join('\n')}`, { cause: err })
      }
    },
    kill9: () => killAndWait(proc),
  }
  return w
}

/**
 * A free port below Linux's ephemeral range (32768+), like a real deployment's 7700. Tests that
 * restart a daemon on its old port need one: a client reconnecting to a free *ephemeral* port can
 * TCP self-connect, and that socket's TIME_WAIT then blocks the port for a minute.
 */
export async function freeFixedPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer()
      srv.once('error', () => resolve(false))
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free port found in 20000-32000')
}
