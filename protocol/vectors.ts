// Test vectors for protocol v1: one example of every message, as JSON (bin fields written as
// {"$bin": "<hex>"}) and its exact MessagePack encoding. `node dist/protocol/vectors.js` prints
// protocol/vectors/v1.json; test/unit/codec.test.ts checks both directions against that file.

import { FrameWriter, encodeValue } from './codec.js'
import { Op } from './ops.js'

export type VectorValue = null | boolean | number | string | VectorValue[] | { $bin: string } | { [k: string]: VectorValue }

export interface Vector {
  name: string
  value: VectorValue
  hex: string
}

const bin = (value: unknown): { $bin: string } => ({ $bin: Buffer.from(encodeValue(value)).toString('hex') })

/** Canonical encoding: shortest ints, fixmap/fixarray/fixstr where they fit, bin for {$bin}. */
export function encodeVector(w: FrameWriter, v: VectorValue): void {
  if (v === null) w.nil()
  else if (typeof v === 'boolean') w.bool(v)
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0) w.uint(v)
    else w.value(v) // negative ints and fractions, as the codec's msgpackr writes them
  } else if (typeof v === 'string') w.str(v)
  else if (Array.isArray(v)) {
    w.array(v.length)
    for (const x of v) encodeVector(w, x)
  } else if ('$bin' in v && typeof v.$bin === 'string') w.bin(Buffer.from(v.$bin, 'hex'))
  else {
    const entries = Object.entries(v)
    w.map(entries.length)
    for (const [k, x] of entries) {
      w.str(k)
      encodeVector(w, x)
    }
  }
}

const examples: Array<[string, VectorValue]> = [
  ['hello', [Op.hello, 1, 1, 's3cret', null]],
  ['hello (reconnect, known client id)', [Op.hello, 1, 1, null, 42]],
  ['submit', [Op.submit, 2, 'emails', bin({ to: 'a@b.c' }), null]],
  ['submit with options', [Op.submit, 3, 'emails', bin({ to: 'a@b.c' }), { maxAttempts: 5, key: 'order-17', leaseMs: 60000 }]],
  ['submit re-sent after reconnect', [Op.submit, 4, 'emails', bin('x'), { resendAfter: 1200 }]],
  [
    'submit_many',
    [
      Op.submitMany,
      5,
      'thumbs',
      [
        [bin(1), null],
        [bin(2), { key: 'k2' }],
      ],
    ],
  ],
  ['consume', [Op.consume, 6, 1, ['high', 'low'], 16, { leaseMs: 30000 }]],
  ['credit', [Op.credit, 7, 1, 32]],
  ['stop', [Op.stop, 8, 1]],
  ['ack (pipelined, no reply)', [Op.ack, 0, 1001, 1, bin({ sent: true })]],
  ['nack', [Op.nack, 0, 1002, 2, bin({ message: 'SMTP 451', name: 'Error' }), null]],
  ['nack without retry', [Op.nack, 9, 1003, 1, bin({ message: 'bad address' }), { retry: false }]],
  ['extend', [Op.extend, 0, 1001, 1, 30000]],
  ['progress', [Op.progress, 0, 1001, 1, bin({ pct: 50 })]],
  ['pop', [Op.pop, 10, ['emails'], 5000, null]],
  ['watch', [Op.watch, 11, 1001]],
  ['unwatch', [Op.unwatch, 12, 1001]],
  ['get', [Op.get, 13, 1001]],
  ['stats', [Op.stats, 14, null]],
  ['ping', [Op.ping, 15]],
  [
    'welcome',
    [Op.welcome, 1, 1, 42, { maxPayload: 1048576, maxFrame: 17891328, leaseMs: 30000, maxCredit: 100000 }, 'brokerd/0.1.0', 1200],
  ],
  ['ok', [Op.ok, 6, null]],
  ['ok with a lease deadline (uint64)', [Op.ok, 16, 1795500000000]],
  ['error', [Op.error, 2, 'payload_too_large', 'payload is 2000000 bytes; the limit is 1048576 (--max-payload)', null]],
  ['error about a job', [Op.error, 0, 'lease_expired', 'job 1001 attempt 1 is not held by this connection', 1001]],
  ['submitted', [Op.submitted, 2, 1001, false]],
  ['submitted (batch)', [Op.submitted, 5, [1002, 1003], [false, true]]],
  ['deliver', [Op.deliver, 1, 1001, 'emails', bin({ to: 'a@b.c' }), 1, 1795500030000, 30000]],
  ['popped', [Op.popped, 10, 1001, 'emails', bin({ to: 'a@b.c' }), 1, 1795500030000, 30000]],
  ['popped (timeout)', [Op.popped, 10, null]],
  [
    'snapshot',
    [
      Op.snapshot,
      11,
      {
        id: 1001,
        queue: 'emails',
        state: 'completed',
        attempt: 1,
        maxAttempts: 3,
        createdAt: 1795500000000,
        finishedAt: 1795500000500,
        result: bin({ sent: true }),
      },
    ],
  ],
  ['event', [Op.event, 1001, 'completed', 'completed', 1, bin({ sent: true }), 1795500000500]],
  ['event (progress)', [Op.event, 1001, 'progress', 'active', 1, bin({ pct: 50 }), 1795500000400]],
  ['submit delayed, with priority', [Op.submit, 16, 'reports', bin({ day: '2026-11-25' }), { delayMs: 60000, priority: -5 }]],
  ['submit at a time', [Op.submit, 17, 'reports', bin('x'), { runAt: 1795503600000 }]],
  [
    'submit with backoff, waiting for room',
    [
      Op.submit,
      18,
      'emails',
      bin('x'),
      { maxAttempts: 5, backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 60000, jitter: 0.2 }, waitMs: 5000 },
    ],
  ],
  ['nack, retry after', [Op.nack, 0, 1002, 2, bin({ message: '429' }), { retryAfterMs: 30000 }]],
  ['cancel', [Op.cancel, 19, 1001]],
  ['ok (cancel)', [Op.ok, 19, { state: 'cancelled', cancelled: true }]],
  ['retry', [Op.retry, 20, 1003]],
  ['remove', [Op.remove, 21, 1003]],
  ['list_jobs', [Op.listJobs, 22, 'emails', 'failed', { limit: 50, cursor: 1003 }]],
  ['redrive', [Op.redrive, 23, 'emails', { limit: 1000 }]],
  ['purge', [Op.purge, 24, 'emails', 'completed']],
  ['pause', [Op.pause, 25, 'emails']],
  ['resume', [Op.resume, 26, 'emails']],
  [
    'configure',
    [Op.configure, 27, 'emails', { maxLength: 100000, maxAttempts: 5, backoff: { type: 'fixed', delayMs: 2000 }, leaseMs: null }],
  ],
  ['get_queue', [Op.getQueue, 28, 'emails']],
  [
    'ok (queue map)',
    [
      Op.ok,
      28,
      {
        name: 'emails',
        paused: false,
        settings: { maxLength: 100000 },
        queued: 12,
        delayed: 3,
        active: 4,
        consumers: 2,
        completed: 900,
        failed: 7,
        cancelled: 1,
        waiting: 0,
      },
    ],
  ],
  [
    'event (retrying after a backoff)',
    [Op.event, 1002, 'retrying', 'delayed', 2, bin({ message: 'SMTP 451' }), 1795500000600, 1795500002600],
  ],
  ['error queue_full', [Op.error, 29, 'queue_full', 'queue emails is full (maxLength 100000): nothing was stored', null]],
  ['revoke', [Op.revoke, 1, 1001, 1, 'cancelled']],
]

export function vectors(): Vector[] {
  return examples.map(([name, value]) => {
    const w = new FrameWriter(64)
    encodeVector(w, value)
    return { name, value, hex: Buffer.from(w.copy()).toString('hex') }
  })
}

if (process.argv[1]?.endsWith('vectors.js')) process.stdout.write(JSON.stringify(vectors(), null, 1) + '\n')
