// Structured logs: pino JSON lines on stdout. One line per connection open/close and per error,
// never one per job at info level (the hot path logs nothing).

import { pino, type Logger } from 'pino'

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'brokerd' } }, pino.destination({ dest: 1, sync: true }))
}
