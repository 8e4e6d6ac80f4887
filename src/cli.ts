#!/usr/bin/env node
// The `brokerd` command: parses flags (yargs), starts the server, and turns SIGINT/SIGTERM into a
// graceful stop (exit 0). Jobs that were active are simply redelivered after the next start.
// `brokerd queue ...` talks to a running broker instead (src/cli-queue.ts).

import { readFileSync } from 'node:fs'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { createLogger } from './log.js'
import { startServer } from './server.js'
import { runQueueCommand, type QueueCommand } from './cli-queue.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

// `brokerd queue <action> <name>`: a client command, handled before the daemon's flags are parsed.
if (process.argv[2] === 'queue') {
  const q = yargs(hideBin(process.argv).slice(1))
    .scriptName('brokerd queue')
    .usage(
      '$0 <get|set|pause|resume> <name> [options]\n\nReads or changes a queue of a running broker; prints the queue as JSON.\n' +
        'Settings take a value or "none" (back to the default); --backoff is fixed:MS, exponential:MS[:MAX_MS[:JITTER]] or none.',
    )
    .command('$0 <action> <name>', false)
    .positional('action', { choices: ['get', 'set', 'pause', 'resume'] as const, demandOption: true })
    .positional('name', { type: 'string', demandOption: true })
    .option('url', { type: 'string', default: 'ws://127.0.0.1:7700', describe: 'The broker' })
    .option('token', { type: 'string', describe: 'Its --auth-token, if it has one' })
    .option('max-length', { type: 'string', describe: 'Most queued + delayed jobs (or none)' })
    .option('max-attempts', { type: 'string', describe: 'Default maxAttempts of new jobs (or none)' })
    .option('backoff', { type: 'string', describe: 'Default retry backoff of new jobs (or none)' })
    .option('lease-ms', { type: 'string', describe: 'Default lease of new jobs (or none)' })
    .option('retention-ms', { type: 'string', describe: 'Default retention of new jobs (or none)' })
    .strict()
    .help()
    .parseSync()
  try {
    await runQueueCommand({
      action: q.action as QueueCommand['action'],
      name: q.name as string,
      url: q.url,
      token: q.token,
      maxLength: q['max-length'],
      maxAttempts: q['max-attempts'],
      backoff: q.backoff,
      leaseMs: q['lease-ms'],
      retentionMs: q['retention-ms'],
    })
    process.exit(0)
  } catch (err) {
    const e = err as { code?: string; message?: string }
    process.stderr.write(`brokerd queue: ${e.code !== undefined ? e.code + ': ' : ''}${e.message ?? String(err)}\n`)
    process.exit(1)
  }
}

const argv = yargs(hideBin(process.argv))
  .scriptName('brokerd')
  .usage(
    '$0 [options]\n\nA durable job broker: WebSocket + MessagePack at ws://HOST:PORT/v1.\n\n$0 queue <get|set|pause|resume> <name>: read or change a queue of a running broker (see $0 queue --help).',
  )
  .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
  .option('port', { type: 'number', default: 7700, describe: 'Port to listen on (0: any free port, printed in the "listening" log line)' })
  .option('data', { type: 'string', default: './brokerd.db', describe: "SQLite file holding the jobs (':memory:' for a throwaway broker)" })
  .option('durability', {
    choices: ['normal', 'strict'] as const,
    default: 'normal' as const,
    describe: 'normal: WAL + synchronous=NORMAL, survives kill -9. strict: synchronous=FULL, also survives power loss',
  })
  .option('log-level', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, default: 'info' as const })
  .option('max-payload', { type: 'number', default: 1024 * 1024, describe: 'Largest payload/result/progress/error in bytes' })
  .option('lease-ms', { type: 'number', default: 30_000, describe: 'Default lease of a delivery (ms); workers extend it while they run' })
  .option('retention-ms', { type: 'number', default: 3_600_000, describe: 'How long finished jobs and their results are kept (ms)' })
  .option('auth-token', { type: 'string', describe: 'When set, every connection must present this token in hello' })
  .option('payload-cache-mb', {
    type: 'number',
    default: 64,
    describe: 'Memory for queued payloads (MiB); beyond it payloads stay in SQLite until dispatch',
  })
  .check((a) => {
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new Error('--port must be an integer 0-65535')
    if (!Number.isInteger(a['max-payload']) || a['max-payload'] < 1 || a['max-payload'] > 64 * 1024 * 1024)
      throw new Error('--max-payload must be 1 B - 64 MiB')
    if (!Number.isInteger(a['lease-ms']) || a['lease-ms'] < 1000 || a['lease-ms'] > 86_400_000)
      throw new Error('--lease-ms must be 1000-86400000')
    if (!Number.isInteger(a['retention-ms']) || a['retention-ms'] < 0) throw new Error('--retention-ms must be a non-negative integer')
    if (!(a['payload-cache-mb'] >= 0)) throw new Error('--payload-cache-mb must be >= 0')
    return true
  })
  .strict()
  .help()
  .version(pkg.version)
  .parseSync()

const log = createLogger(argv['log-level'])

process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; exiting (the store is consistent: restart to recover)')
  process.exit(70)
})

try {
  const server = await startServer(
    {
      host: argv.host,
      port: argv.port,
      data: argv.data,
      durability: argv.durability,
      maxPayload: argv['max-payload'],
      leaseMs: argv['lease-ms'],
      retentionMs: argv['retention-ms'],
      authToken: argv['auth-token'] ?? null,
      payloadCacheBytes: Math.floor(argv['payload-cache-mb'] * 1024 * 1024),
      version: pkg.version,
    },
    log,
  )
  const shutdown = (signal: string) => {
    log.info({ signal }, 'stopping')
    server.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'cannot start')
  process.exit(1)
}
