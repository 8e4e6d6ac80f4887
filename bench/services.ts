// Starts and stops the systems under test (brokerd, redis-server, beanstalkd) on 127.0.0.1.
// Every process is tracked by PID and killed on stop, on error and when the orchestrator exits.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { now, sleep } from './clock.js'
import type { Endpoint } from './adapter.js'

/** Repo root, from dist/bench/services.js (compiled) — the brokerd CLI and results/ hang off it. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BROKERD_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js')
export const BROKERD_SDK = path.join(REPO_ROOT, 'dist', 'clients', 'index.js')

const REDIS_BIN = '/usr/bin/redis-server'
const BEANSTALKD_BIN = '/usr/bin/beanstalkd'

// ---------------------------------------------------------------------------------------------
// Process registry: whatever happens (exception, Ctrl-C, timeout), nothing we started survives us.

const live = new Set<ChildProcess>()

export function track(cp: ChildProcess): ChildProcess {
  live.add(cp)
  cp.once('exit', () => live.delete(cp))
  return cp
}

/** Synchronous so it can run inside process.on('exit'). Kills by PID, only our own children. */
export function killAllSync(): void {
  for (const cp of live) {
    if (cp.pid !== undefined && cp.exitCode === null && cp.signalCode === null) {
      try {
        process.kill(cp.pid, 'SIGKILL')
      } catch {
        /* already gone */
      }
    }
  }
  live.clear()
}

let hooksInstalled = false
export function installExitHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', killAllSync)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllSync()
      process.exit(130)
    })
  }
}

/** Waits for a child to exit, at most ms; true if it did. */
export function waitExit(cp: ChildProcess, ms: number): Promise<boolean> {
  if (cp.exitCode !== null || cp.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms)
    cp.once('exit', () => {
      clearTimeout(t)
      resolve(true)
    })
  })
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stopProcess(cp: ChildProcess, graceMs = 3000): Promise<void> {
  if (cp.pid === undefined || cp.exitCode !== null || cp.signalCode !== null) return
  try {
    process.kill(cp.pid, 'SIGTERM')
  } catch {
    return
  }
  if (await waitExit(cp, graceMs)) return
  try {
    process.kill(cp.pid, 'SIGKILL')
  } catch {
    /* gone */
  }
  await waitExit(cp, 2000)
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export function tempDir(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `brokerd-bench-${label}-`))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** A port the OS says is free right now (tiny race with other processes; start retries on it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

/** Resident set size of a process in bytes, from /proc/PID/status (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

/**
 * Sends one raw text command on a fresh TCP connection and returns the first reply line(s).
 * Used for readiness probes only (PING / LLEN / stats-tube), so no client library sits between
 * "the server answers" and our clock.
 */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (err: Error | null, v?: string) => {
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(v ?? '')
    }
    const timer = setTimeout(() => done(new Error(`no reply to ${command.trim()}`)), timeoutMs)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(command))
    sock.on('data', (d: string) => {
      buf += d
      // beanstalkd "OK <n>\r\n<yaml>\r\n" needs the body; everything else is one line.
      const m = /^OK (\d+)\r\n/.exec(buf)
      if (m) {
        if (Buffer.byteLength(buf) >= m[0].length + Number(m[1]) + 2) done(null, buf)
      } else if (buf.includes('\r\n')) done(null, buf)
    })
    sock.on('error', (e) => done(e))
  })
}

// ---------------------------------------------------------------------------------------------
// Services

export type ServiceKind = 'brokerd' | 'redis' | 'beanstalkd'

export interface Service {
  kind: ServiceKind
  endpoint: Endpoint
  pid: number
  proc: ChildProcess
  /** Data directory; kept across a restart, removed by the caller when done. */
  dir: string
  /** spawn → ready, ms. */
  startMs: number
  /** Command-line flags, for the report. */
  flags: string[]
  /** Jobs found in the queue right at readiness (restart check), when asked for. */
  recovered?: number
}

export interface BrokerdOptions {
  durability: 'normal' | 'strict'
  dir: string
  timeoutMs?: number
}

/** brokerd from this checkout; ready = the "listening" JSON log line (which also gives the port). */
export async function startBrokerd(o: BrokerdOptions): Promise<Service> {
  if (!existsSync(BROKERD_CLI)) throw new Error(`${BROKERD_CLI} missing: build first (npx tsc -p tsconfig.json)`)
  const flags = ['--port', '0', '--data', path.join(o.dir, 'b.db'), '--durability', o.durability, '--log-level', 'info']
  const t0 = now()
  const cp = track(spawn(process.execPath, [BROKERD_CLI, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const log = createWriteStream(path.join(o.dir, 'brokerd.log'), { flags: 'a' })
  // Keep draining both pipes for the broker's whole life: a full pipe would block its event loop.
  cp.stderr!.pipe(log)
  const port = await new Promise<number>((resolve, reject) => {
    let pending = ''
    let found = false
    const timer = setTimeout(() => reject(new Error('brokerd: no "listening" line within timeout')), o.timeoutMs ?? 30000)
    cp.stdout!.setEncoding('utf8')
    cp.stdout!.on('data', (chunk: string) => {
      log.write(chunk)
      if (found) return
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number }
          if (j.msg === 'listening' && typeof j.port === 'number') {
            found = true
            pending = ''
            clearTimeout(timer)
            resolve(j.port)
            return
          }
        } catch {
          /* not JSON: ignore */
        }
      }
    })
    cp.once('exit', (code, sig) => {
      clearTimeout(timer)
      if (!found) reject(new Error(`brokerd exited before listening (code ${code}, signal ${sig}); see ${o.dir}/brokerd.log`))
    })
  })
  return {
    kind: 'brokerd',
    endpoint: { host: '127.0.0.1', port, url: `ws://127.0.0.1:${port}` },
    pid: cp.pid!,
    proc: cp,
    dir: o.dir,
    startMs: now() - t0,
    flags,
  }
}

export interface RedisOptions {
  dir: string
  port?: number
  /** After a restart: also read LLEN key at readiness (W5). */
  expectList?: { key: string }
  timeoutMs?: number
}

/**
 * redis-server with persistence on, as the docs recommend for queues: AOF, fsync every second,
 * no RDB snapshots. Ready = PING answers PONG (not -LOADING), plus one LLEN after a restart.
 */
export async function startRedis(o: RedisOptions): Promise<Service> {
  const port = o.port ?? (await freePort())
  const flags = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    o.dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--logfile',
    path.join(o.dir, 'redis.log'),
    '--maxclients',
    '10000',
  ]
  const t0 = now()
  const cp = track(spawn(REDIS_BIN, flags, { stdio: 'ignore' }))
  const deadline = t0 + (o.timeoutMs ?? 30000)
  let recovered: number | undefined
  for (let attempt = 0; now() < deadline; attempt++) {
    if (cp.exitCode !== null) throw new Error(`redis-server exited (code ${cp.exitCode}); see ${o.dir}/redis.log`)
    try {
      const pong = await rawCommand(port, 'PING\r\n', 500)
      if (pong.startsWith('+PONG')) {
        if (!o.expectList) break
        // Redis answers -LOADING until the whole AOF is replayed, so the first LLEN after PONG
        // is final: a short list here means lost jobs, not "not ready yet".
        const len = await rawCommand(port, `LLEN ${o.expectList.key}\r\n`, 2000)
        if (len.startsWith(':')) {
          recovered = Number(len.slice(1))
          break
        }
      }
    } catch {
      /* not up yet */
    }
    await sleep(attempt < 50 ? 2 : 10)
  }
  if (now() >= deadline) {
    await stopProcess(cp)
    throw new Error('redis-server not ready within timeout')
  }
  const startMs = now() - t0
  return { kind: 'redis', endpoint: { host: '127.0.0.1', port }, pid: cp.pid!, proc: cp, dir: o.dir, startMs, flags, recovered }
}

export interface BeanstalkdOptions {
  dir: string
  port?: number
  /** After a restart: also read current-jobs-ready of this tube at readiness (W5). */
  expectTube?: { tube: string }
  timeoutMs?: number
}

/** beanstalkd with its binlog (-b) on and the default fsync policy (at most every 50 ms). */
export async function startBeanstalkd(o: BeanstalkdOptions): Promise<Service> {
  const port = o.port ?? (await freePort())
  const flags = ['-l', '127.0.0.1', '-p', String(port), '-b', o.dir]
  const t0 = now()
  const cp = track(spawn(BEANSTALKD_BIN, flags, { stdio: ['ignore', 'ignore', 'pipe'] }))
  cp.stderr!.pipe(createWriteStream(path.join(o.dir, 'beanstalkd.log'), { flags: 'a' }))
  const deadline = t0 + (o.timeoutMs ?? 30000)
  let recovered: number | undefined
  for (let attempt = 0; now() < deadline; attempt++) {
    if (cp.exitCode !== null) throw new Error(`beanstalkd exited (code ${cp.exitCode}); see ${o.dir}/beanstalkd.log`)
    try {
      if (!o.expectTube) {
        if ((await rawCommand(port, 'stats\r\n', 500)).startsWith('OK')) break
      } else {
        const r = await rawCommand(port, `stats-tube ${o.expectTube.tube}\r\n`, 2000)
        // beanstalkd replays its binlog before it listens, so the first answer is final.
        const m = /current-jobs-ready: (\d+)/.exec(r)
        if (m) {
          recovered = Number(m[1])
          break
        }
      }
    } catch {
      /* not up yet */
    }
    await sleep(attempt < 50 ? 2 : 10)
  }
  if (now() >= deadline) {
    await stopProcess(cp)
    throw new Error('beanstalkd not ready within timeout')
  }
  const startMs = now() - t0
  return { kind: 'beanstalkd', endpoint: { host: '127.0.0.1', port }, pid: cp.pid!, proc: cp, dir: o.dir, startMs, flags, recovered }
}

/** kill -9 by PID and wait until the process is really gone (its port and files are free). */
export async function kill9(s: Service): Promise<void> {
  try {
    process.kill(s.pid, 'SIGKILL')
  } catch {
    /* gone */
  }
  await waitExit(s.proc, 5000)
}

// ---------------------------------------------------------------------------------------------
// Installation

/** Installs redis-server / beanstalkd from Debian if missing (the bench needs both binaries). */
export function ensurePeerBinaries(need: { redis: boolean; beanstalkd: boolean }): void {
  const missing: string[] = []
  if (need.redis && !existsSync(REDIS_BIN)) missing.push('redis-server')
  if (need.beanstalkd && !existsSync(BEANSTALKD_BIN)) missing.push('beanstalkd')
  if (missing.length === 0) return
  console.error(`installing ${missing.join(' ')} with apt-get ...`)
  execFileSync('apt-get', ['update'], { stdio: 'inherit' })
  execFileSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

export function peerVersions(): Record<string, string> {
  const v: Record<string, string> = {}
  try {
    v.redis = /v=(\S+)/.exec(execFileSync(REDIS_BIN, ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'
  } catch {
    v.redis = 'missing'
  }
  try {
    v.beanstalkd = execFileSync(BEANSTALKD_BIN, ['-v'], { encoding: 'utf8' })
      .trim()
      .replace(/^beanstalkd\s*/, '')
  } catch {
    v.beanstalkd = 'missing'
  }
  return v
}
