// The workload list in table order.
// Adding a workload = one file exporting a WorkloadDef, plus one line here.

import type { WorkloadDef } from './types.js'
import { W1, W1r } from './w1-latency.js'
import { W2, W2r } from './w2-clients.js'
import { W3a, W3b, W3s } from './w3-throughput.js'
import { W4 } from './w4-fanout.js'
import { W5 } from './w5-backlog.js'
import { W6 } from './w6-delayed.js'
import { W7 } from './w7-delayed-backlog.js'
import { W8o, W8t } from './w8-priority.js'

export const WORKLOADS: WorkloadDef[] = [W1, W1r, W2, W2r, W3b, W3s, W3a, W4, W5, W6, W7, W8t, W8o]
