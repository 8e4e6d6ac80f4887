// What a workload is for the orchestrator: its metrics (with direction), the systems it applies
// to, its time limit, and the function that runs one cell and returns the cell's metrics.

import type { SystemName } from '../adapter.js'
import type { Cell, Sizes } from '../cell.js'

export interface MetricDef {
  key: string
  label: string
  better: 'lower' | 'higher'
  digits?: number
}

export interface WorkloadDef {
  /** Unique id in the table (a group can have variants: W1 and W1r; W3b, W3s and W3a). */
  id: string
  /** What --only matches besides the id (W3 selects all its variants). */
  group: string
  title: string
  describe(s: Sizes): string
  metrics: MetricDef[]
  /** Metrics compared between systems in the headline ratios. */
  headline: string[]
  /** undefined = applicable; otherwise why the cell is "n/a". */
  notApplicable?(system: SystemName): string | undefined
  timeoutMs(s: Sizes): number
  run(cell: Cell): Promise<Record<string, number>>
}
