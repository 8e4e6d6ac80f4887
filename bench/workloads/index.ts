// The workload list in table order.
// Adding a workload = one file exporting a WorkloadDef, plus one line here.

import type { WorkloadDef } from './types.js'
import { W1 } from './w1-latency.js'
import { W2 } from './w2-clients.js'
import { W3b, W3s } from './w3-throughput.js'
import { W4 } from './w4-fanout.js'
import { W5 } from './w5-backlog.js'
import { W6 } from './w6-delayed.js'
import { W7 } from './w7-delayed-backlog.js'
import { W8o, W8t } from './w8-priority.js'

export const WORKLOADS: WorkloadDef[] = [W1, W2, W3b, W3s, W4, W5, W6, W7, W8t, W8o]
