// Turns raw cell records into the printed table and the JSON document: medians and ranges per
// metric, same-run ratios between brokerd and each peer (the headline), and the target checks.

import type { SystemAdapter, SystemName } from './adapter.js'
import type { Sizes } from './cell.js'
import { spread, type Spread } from './stats.js'
import type { WorkloadDef } from './workloads/types.js'

export type CellStatus = 'ok' | 'lost' | 'timeout' | 'failed' | 'n/a'

export interface CellRecord {
  run: number
  workload: string
  system: SystemName
  status: CellStatus
  metrics: Record<string, number>
  error?: string
  notes?: string[]
  wallMs: number
}

export interface RatioLine {
  workload: string
  metric: string
  base: SystemName
  other: SystemName
  /** > 1 means `base` is better, whatever the metric's direction. */
  factor: Spread
  /** Human form, e.g. "brokerd-normal ÷ redis-lists" or "redis-lists ÷ brokerd-normal". */
  formula: string
}

export interface TargetCheck {
  target: string
  measured: string
  pass: boolean | null
}

export type SystemInfo = Pick<SystemAdapter, 'name' | 'semantics' | 'batchNote'>

export interface Aggregate {
  /** workload → system → metric → spread over ok runs. */
  metrics: Record<string, Partial<Record<SystemName, Record<string, Spread>>>>
  /** workload → system → "3/3 ok" style status. */
  status: Record<string, Partial<Record<SystemName, string>>>
  ratios: RatioLine[]
  targets: TargetCheck[]
}

const BASES: SystemName[] = ['brokerd-normal', 'brokerd-strict']

export function aggregate(records: CellRecord[], workloads: WorkloadDef[], systems: SystemName[], runs: number): Aggregate {
  const agg: Aggregate = { metrics: {}, status: {}, ratios: [], targets: [] }
  for (const w of workloads) {
    agg.metrics[w.id] = {}
    agg.status[w.id] = {}
    for (const sys of systems) {
      const cells = records.filter((r) => r.workload === w.id && r.system === sys)
      if (cells.length === 0) continue
      if (cells.every((c) => c.status === 'n/a')) {
        agg.status[w.id][sys] = 'n/a'
        continue
      }
      const ok = cells.filter((c) => c.status === 'ok')
      const bad = cells.filter((c) => c.status !== 'ok').map((c) => c.status)
      agg.status[w.id][sys] = bad.length ? `${ok.length}/${cells.length} ok (${[...new Set(bad)].join(', ')})` : 'ok'
      const m: Record<string, Spread> = {}
      for (const key of new Set(ok.flatMap((c) => Object.keys(c.metrics)))) m[key] = spread(ok.map((c) => c.metrics[key]))
      agg.metrics[w.id][sys] = m
    }
    // Same-run ratios: each run's pair is measured minutes apart at most, on the same noisy box.
    for (const base of BASES.filter((b) => systems.includes(b))) {
      for (const other of systems.filter((s) => !s.startsWith('brokerd'))) {
        for (const key of w.headline) {
          const def = w.metrics.find((d) => d.key === key)!
          const factors: number[] = []
          for (let run = 1; run <= runs; run++) {
            const b = records.find((r) => r.run === run && r.workload === w.id && r.system === base && r.status === 'ok')
            const o = records.find((r) => r.run === run && r.workload === w.id && r.system === other && r.status === 'ok')
            if (!b || !o) continue
            const f = def.better === 'higher' ? b.metrics[key] / o.metrics[key] : o.metrics[key] / b.metrics[key]
            if (Number.isFinite(f)) factors.push(f)
          }
          if (factors.length === 0) continue
          agg.ratios.push({
            workload: w.id,
            metric: key,
            base,
            other,
            factor: spread(factors),
            formula: def.better === 'higher' ? `${base} ÷ ${other}` : `${other} ÷ ${base}`,
          })
        }
      }
    }
  }
  agg.targets = targets(agg)
  return agg
}

/** The goals from the issue, checked against brokerd-normal's medians. Measured, never assumed. */
function targets(agg: Aggregate): TargetCheck[] {
  const out: TargetCheck[] = []
  const ratio = (w: string, other: SystemName) =>
    agg.ratios.find((r) => r.workload === w && r.base === 'brokerd-normal' && r.other === other && r.metric === 'e2eJobsPerSec')
  for (const w of ['W3b', 'W3s']) {
    for (const [other, goal] of [
      ['bullmq', 5],
      ['redis-lists', 1.5],
      ['beanstalkd', 1.5],
    ] as const) {
      const r = ratio(w, other)
      if (w === 'W3b' && other === 'beanstalkd') continue
      if (agg.status[w]?.['brokerd-normal'] === undefined || agg.status[w]?.[other] === undefined) continue
      out.push({
        target: `${w} e2e jobs/s: brokerd-normal ≥ ${goal}× ${other}`,
        measured: r ? `${fmt(r.factor.median, 2)}×` : 'not measured',
        pass: r ? r.factor.median >= goal : null,
      })
    }
  }
  const m = (w: string, k: string) => agg.metrics[w]?.['brokerd-normal']?.[k]?.median
  const check = (target: string, v: number | undefined, ok: (v: number) => boolean, unit: string, digits: number) =>
    // Only targets of workloads that were run on brokerd-normal (a failed cell still counts).
    agg.status[target.slice(0, 2)]?.['brokerd-normal'] !== undefined &&
    out.push({
      target,
      measured: v === undefined || !Number.isFinite(v) ? 'not measured' : `${fmt(v, digits)} ${unit}`,
      pass: v === undefined || !Number.isFinite(v) ? null : ok(v),
    })
  check('W1 brokerd-normal p50 ≤ 0.3 ms', m('W1', 'p50'), (v) => v <= 0.3, 'ms', 3)
  check('W4 brokerd-normal all watchers ≤ 20 ms', m('W4', 'max'), (v) => v <= 20, 'ms', 2)
  check('W5 brokerd-normal restart < 3 s', m('W5', 'restartMs'), (v) => v < 3000, 'ms', 0)
  check('W5 brokerd-normal RSS < 400 MB', m('W5', 'rssMB'), (v) => v < 400, 'MB', 0)
  return out
}

export function fmt(v: number, digits = 2): string {
  if (!Number.isFinite(v)) return '–'
  if (Math.abs(v) >= 1000 && digits <= 1) return Math.round(v).toLocaleString('en-US')
  return v.toFixed(digits)
}

function cellText(s: Spread | undefined, digits: number, runs: number): string {
  if (!s || s.n === 0) return '–'
  if (runs === 1 || s.n === 1 || s.min === s.max) return fmt(s.median, digits)
  return `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export interface Header {
  machine: Record<string, string | number>
  runs: number
  quick: boolean
  sizes: Sizes
}

export function render(
  h: Header,
  agg: Aggregate,
  workloads: WorkloadDef[],
  systems: SystemName[],
  info: Partial<Record<SystemName, SystemInfo>>,
): string {
  const out: string[] = []
  const mc = h.machine
  out.push(`brokerd benchmark — ${h.quick ? 'QUICK (CI smoke sizes, not comparable)' : `median of ${h.runs} run(s) [min–max]`}`)
  out.push(`machine: ${mc.cpu}, ${mc.cores} cores, ${mc.memGB} GB RAM, node ${mc.node}, ${mc.os}; load at start ${mc.loadavg}`)
  out.push(
    `peers: redis ${mc.redis} (appendonly yes, appendfsync everysec, no RDB), beanstalkd ${mc.beanstalkd} (binlog -b, fsync ≤ 50 ms), bullmq ${mc.bullmq}; brokerd ${mc.brokerd}`,
  )
  out.push('semantics: ' + systems.map((s) => `${s} = ${info[s]?.semantics ?? '?'}`).join(', '))
  out.push('  (redis-lists is AT-MOST-ONCE: a job popped by BRPOP is lost if its worker dies.)')
  out.push('')
  out.push('HEADLINE — ratios measured within the same run (median [min–max] over runs; > 1 = brokerd better):')
  const rows: string[][] = [['workload', 'metric', 'ratio', 'factor']]
  for (const r of agg.ratios) {
    const def = workloads.find((w) => w.id === r.workload)!.metrics.find((m) => m.key === r.metric)!
    rows.push([r.workload, def.label, r.formula, cellText(r.factor, 2, h.runs) + '×'])
  }
  out.push(rows.length > 1 ? indent(table(rows)) : '  (no pair of systems measured in the same run)')
  out.push('')
  for (const w of workloads) {
    out.push(`${w.id} ${w.title}: ${w.describe(h.sizes)}`)
    const rows: string[][] = [['system', 'status', ...w.metrics.map((m) => m.label)]]
    for (const sys of systems) {
      const st = agg.status[w.id]?.[sys]
      if (st === undefined) continue
      const m = agg.metrics[w.id]?.[sys]
      rows.push([sys, st, ...w.metrics.map((d) => (st === 'n/a' ? '' : cellText(m?.[d.key], d.digits ?? 2, h.runs)))])
    }
    out.push(indent(table(rows)))
    // Why a cell is n/a belongs next to it, not only in the JSON.
    for (const sys of systems) if (agg.status[w.id]?.[sys] === 'n/a') out.push(`  n/a ${sys}: ${w.notApplicable?.(sys) ?? '?'}`)
    out.push('')
  }
  if (agg.targets.length) {
    out.push('TARGETS (brokerd-normal medians):')
    out.push(
      indent(
        table([
          ['target', 'measured', 'verdict'],
          ...agg.targets.map((t) => [t.target, t.measured, t.pass === null ? '–' : t.pass ? 'PASS' : 'not met']),
        ]),
      ),
    )
  }
  return out.join('\n')
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => '  ' + l)
    .join('\n')
}
