// `brokerd queue <get|set|pause|resume> <name>`: reads or changes a queue of a running broker
// through the SDK (the same requests any client sends). Prints the queue map as JSON.

import { connect } from '../clients/index.js'
import type { Backoff, QueueSettingsChange } from '../clients/types.js'

export interface QueueCommand {
  action: 'get' | 'set' | 'pause' | 'resume'
  name: string
  url: string
  token?: string
  maxLength?: string
  maxAttempts?: string
  backoff?: string
  leaseMs?: string
  retentionMs?: string
}

/** `none` resets a setting; otherwise a non-negative integer. */
function intOrNone(flag: string, v: string | undefined): number | null | undefined {
  if (v === undefined) return undefined
  if (v === 'none') return null
  if (!/^\d+$/.test(v)) throw new Error(`--${flag} must be a non-negative integer or 'none', got '${v}'`)
  return Number(v)
}

/** `fixed:DELAY`, `exponential:DELAY[:MAX[:JITTER]]` or `none`. */
export function parseBackoffFlag(v: string | undefined): Backoff | null | undefined {
  if (v === undefined) return undefined
  if (v === 'none') return null
  const [type, delay, max, jitter, ...rest] = v.split(':')
  const ok =
    (type === 'fixed' || type === 'exponential') &&
    /^\d+$/.test(delay ?? '') &&
    (max === undefined || /^\d*$/.test(max)) &&
    (jitter === undefined || /^(0(\.\d+)?|1)$/.test(jitter)) &&
    rest.length === 0
  if (!ok) throw new Error(`--backoff must be fixed:DELAY_MS, exponential:DELAY_MS[:MAX_MS[:JITTER 0-1]] or none, got '${v}'`)
  const b: Backoff = { type, delayMs: Number(delay) }
  if (max !== undefined && max !== '') b.maxDelayMs = Number(max)
  if (jitter !== undefined) b.jitter = Number(jitter)
  return b
}

export async function runQueueCommand(cmd: QueueCommand): Promise<void> {
  const change: QueueSettingsChange = {}
  const set = <K extends keyof QueueSettingsChange>(key: K, v: QueueSettingsChange[K] | undefined): void => {
    if (v !== undefined) change[key] = v
  }
  set('maxLength', intOrNone('max-length', cmd.maxLength))
  set('maxAttempts', intOrNone('max-attempts', cmd.maxAttempts))
  set('leaseMs', intOrNone('lease-ms', cmd.leaseMs))
  set('retentionMs', intOrNone('retention-ms', cmd.retentionMs))
  set('backoff', parseBackoffFlag(cmd.backoff))
  if (cmd.action !== 'set' && Object.keys(change).length > 0)
    throw new Error(`settings flags are for 'queue set', not 'queue ${cmd.action}'`)
  if (cmd.action === 'set' && Object.keys(change).length === 0)
    throw new Error('queue set needs at least one of --max-length, --max-attempts, --backoff, --lease-ms, --retention-ms')
  const broker = await connect(cmd.url, { token: cmd.token, reconnect: false, connectTimeoutMs: 5_000 })
  try {
    const info =
      cmd.action === 'get'
        ? await broker.getQueue(cmd.name)
        : cmd.action === 'set'
          ? await broker.configureQueue(cmd.name, change)
          : cmd.action === 'pause'
            ? await broker.pause(cmd.name)
            : await broker.resume(cmd.name)
    process.stdout.write(JSON.stringify(info, null, 2) + '\n')
  } finally {
    await broker.close()
  }
}
