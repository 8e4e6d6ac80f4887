// `npm run bench` entry: starts every system on 127.0.0.1, runs every workload against each,
// prints the table and writes bench/results/<timestamp>.json. `--quick` is the CI smoke version.

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ALL_SYSTEMS, loadAdapter, type SystemName } from './adapter.js'
import { Cell, FULL, QUICK, type Sizes } from './cell.js'
import { now, TimeoutError, withTimeout } from './clock.js'
import { aggregate, fmt, render, type CellRecord, type CellStatus, type Header, type SystemInfo } from './report.js'
import { BROKERD_CLI, BROKERD_SDK, ensurePeerBinaries, installExitHooks, killAllSync, peerVersions, REPO_ROOT } from './services.js'
import { WORKLOADS } from './workloads/index.js'
import type { WorkloadDef } from './workloads/types.js'

/**
 * --quick stops starting new cells after this long. Worst case under 60 s: this + the longest
 * quick cell limit (QUICK.timeoutMs + W6's margin, 13 s) + a teardown that has to SIGKILL (≤ 5 s).
 */
const QUICK_BUDGET_MS = 40_000

const USAGE = `usage: node dist/bench/run.js [--quick] [--runs N] [--only W1,W3,...] [--systems ${ALL_SYSTEMS.join(',')}]
  --quick    tiny brokerd-only run for CI (< 60 s); exits non-zero if any workload fails
  --runs N   runs per cell (default 3; 1 with --quick); the table shows the median and min–max
  --only     workloads to run (W1 … W8, or one variant: W1r, W3a, ...); a group selects its variants:
             W1 = W1 and W1r (one-call run()), W2 = W2 and W2r, W3 = W3b batched, W3s single and
             W3a one awaited submits, W8 = W8t and W8o
  --systems  systems to run (default: all; with --quick: brokerd-normal,brokerd-strict)`

function parseCli() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string' },
      systems: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const quick = values.quick
  const runs = values.runs ? Number(values.runs) : quick ? 1 : 3
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs must be 1..20\n${USAGE}`)
  const systems = (values.systems ? values.systems.split(',') : quick ? ['brokerd-normal', 'brokerd-strict'] : [...ALL_SYSTEMS]).map((s) =>
    s.trim(),
  )
  for (const s of systems) if (!(ALL_SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system ${s}\n${USAGE}`)
  const only = values.only?.split(',').map((s) => s.trim().toUpperCase())
  const workloads = WORKLOADS.filter((w) => !only || only.includes(w.group) || only.includes(w.id.toUpperCase()))
  if (workloads.length === 0) throw new Error(`--only matched no workload\n${USAGE}`)
  // Keep table order regardless of the order given on the command line.
  return { quick, runs, systems: ALL_SYSTEMS.filter((s) => systems.includes(s)), workloads }
}

function machine(): Record<string, string | number> {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?'
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return '?'
    }
  }
  let brokerd = 'uncommitted checkout'
  try {
    brokerd = execFileSync('git', ['-C', REPO_ROOT, 'describe', '--always', '--dirty'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    /* no commits yet */
  }
  return {
    cpu,
    cores: os.cpus().length,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    ...peerVersions(),
    bullmq: pkg('bullmq'),
    ioredis: pkg('ioredis'),
    brokerd,
  }
}

async function runCell(w: WorkloadDef, system: SystemName, run: number, sizes: Sizes): Promise<CellRecord> {
  const na = w.notApplicable?.(system)
  if (na) return { run, workload: w.id, system, status: 'n/a', metrics: {}, error: na, wallMs: 0 }
  const cell = new Cell(system, sizes)
  const t0 = now()
  let status: CellStatus = 'ok'
  let metrics: Record<string, number> = {}
  let error: string | undefined
  try {
    if (system.startsWith('brokerd') && (!existsSync(BROKERD_CLI) || !existsSync(BROKERD_SDK)))
      throw new Error('brokerd is not built (dist/src/cli.js or dist/clients/index.js missing): run npx tsc -p tsconfig.json')
    // The hard limit: when it fires, teardown below kills every process of the cell by PID.
    metrics = await withTimeout(w.run(cell), w.timeoutMs(sizes), `${w.id} on ${system}`)
    if ((metrics.lost ?? 0) > 0) {
      status = 'lost'
      error = `${metrics.lost} jobs lost`
    }
  } catch (e) {
    status = e instanceof TimeoutError ? 'timeout' : 'failed'
    error = e instanceof Error ? e.message : String(e)
  } finally {
    await cell.teardown()
  }
  const rec: CellRecord = {
    run,
    workload: w.id,
    system,
    status,
    metrics,
    error,
    notes: cell.notes.length ? cell.notes : undefined,
    wallMs: now() - t0,
  }
  const summary = w.metrics.map((m) => `${m.key}=${fmt(metrics[m.key], m.digits ?? 2)}`).join(' ')
  console.error(
    `[run ${run}] ${w.id.padEnd(3)} ${system.padEnd(14)} ${status.padEnd(7)} ${status === 'ok' || status === 'lost' ? summary : ''}${error ? ' — ' + error.split('\n')[0] : ''}${cell.notes.length ? ' — ' + cell.notes.join('; ') : ''} (${(rec.wallMs / 1000).toFixed(1)} s)`,
  )
  return rec
}

async function main(): Promise<number> {
  const { quick, runs, systems, workloads } = parseCli()
  installExitHooks()
  ensurePeerBinaries({
    redis: systems.some((s) => s === 'bullmq' || s === 'redis-lists'),
    beanstalkd: systems.includes('beanstalkd'),
  })
  const sizes = quick ? QUICK : FULL
  const startedAt = new Date()
  const header: Header = { machine: machine(), runs, quick, sizes }
  console.error(`bench: ${runs} run(s) × ${workloads.map((w) => w.id).join(',')} × ${systems.join(',')}${quick ? ' (quick)' : ''}`)

  const info: Partial<Record<SystemName, SystemInfo>> = {}
  for (const s of systems) {
    try {
      const a = await loadAdapter(s)
      info[s] = { name: a.name, semantics: a.semantics, batchNote: a.batchNote }
    } catch (e) {
      console.error(`cannot load adapter ${s}: ${(e as Error).message}`)
    }
  }

  // Runs outermost: every run measures all systems back to back, so a slow patch of the shared
  // machine hits one run of every system rather than all runs of one system.
  const records: CellRecord[] = []
  const t0 = now()
  for (let run = 1; run <= runs; run++)
    for (const w of workloads)
      for (const s of systems) {
        if (run > 1 && w.notApplicable?.(s)) continue
        // CI must finish within a minute even when everything hangs: skip what no longer fits.
        if (quick && now() - t0 > QUICK_BUDGET_MS) {
          records.push({
            run,
            workload: w.id,
            system: s,
            status: 'timeout',
            metrics: {},
            error: 'skipped: --quick time budget used up',
            wallMs: 0,
          })
          continue
        }
        records.push(await runCell(w, s, run, sizes))
      }

  const agg = aggregate(records, workloads, systems, runs)
  const text = render(header, agg, workloads, systems, info)
  console.log('\n' + text)

  const failed = records.filter((r) => r.status !== 'ok' && r.status !== 'n/a')
  const dir = path.join(REPO_ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`)
  const doc = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    argv: process.argv.slice(2),
    ...header,
    systems: info,
    workloads: workloads.map((w) => ({
      id: w.id,
      title: w.title,
      description: w.describe(sizes),
      metrics: w.metrics,
      headline: w.headline,
    })),
    cells: records,
    summary: agg.metrics,
    status: agg.status,
    ratios: agg.ratios,
    targets: agg.targets,
    table: text,
  }
  writeFileSync(
    file,
    JSON.stringify(doc, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2),
  )
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`)
  if (failed.length) {
    console.error(`\n${failed.length} cell(s) did not complete cleanly:`)
    for (const f of failed) console.error(`  run ${f.run} ${f.workload} ${f.system}: ${f.status} — ${f.error}`)
  }
  return failed.length ? 1 : 0
}

main().then(
  (code) => {
    killAllSync()
    process.exit(code)
  },
  (e) => {
    console.error(e instanceof Error ? e.message : e)
    killAllSync()
    process.exit(2)
  },
)
