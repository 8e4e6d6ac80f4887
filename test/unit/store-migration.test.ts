// A data file written by brokerd 0.1 (store schema 1) opens in this version: the new columns are
// added, finished jobs get their queue, and everything in the file is still there.

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { Store } from '../../src/store.js'
import { State } from '../../src/lifecycle.js'

// The schema of brokerd 0.1.0, as it created its files.
const SCHEMA_1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY, queue_id INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL, lease_ms INTEGER NOT NULL DEFAULT 0, retention_ms INTEGER NOT NULL DEFAULT -1,
  priority INTEGER NOT NULL DEFAULT 0, run_at INTEGER NOT NULL DEFAULT 0, key TEXT, origin_client INTEGER,
  origin_seq INTEGER, payload BLOB, error BLOB, created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_key ON jobs(queue_id, key) WHERE key IS NOT NULL;
CREATE TABLE finished (
  id INTEGER PRIMARY KEY, state INTEGER NOT NULL, attempts INTEGER NOT NULL, result BLOB, error BLOB,
  finished_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
CREATE INDEX finished_expiry ON finished(expires_at);
INSERT INTO meta(key, value) VALUES ('schema', 1);
`

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('store migration', () => {
  it('opens a schema-1 file: unfinished and finished jobs, keys and counts are kept; dead letters list by queue', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'brokerd-migrate-'))
    dirs.push(dir)
    const file = path.join(dir, 'old.db')
    const old = new Database(file)
    old.exec(SCHEMA_1)
    old.prepare(`INSERT INTO queues (id, name) VALUES (1, 'emails'), (2, 'thumbs')`).run()
    const job = old.prepare(`INSERT INTO jobs (id, queue_id, max_attempts, key, payload, created_at) VALUES (?, ?, 3, ?, ?, 1000)`)
    job.run(1, 1, 'k-1', Buffer.from('a'))
    job.run(2, 1, null, Buffer.from('b'))
    job.run(3, 2, null, Buffer.from('c'))
    old.prepare(`INSERT INTO finished VALUES (2, ${State.failed}, 3, NULL, x'a1', 2000, 9999999999999)`).run()
    old.prepare(`INSERT INTO finished VALUES (3, ${State.completed}, 1, x'a2', NULL, 2000, 9999999999999)`).run()
    old.close()

    const store = new Store(file, 'normal')
    expect(store.queues().map((q) => [q.id, q.name, q.settings, q.paused])).toEqual([
      [1, 'emails', null, 0],
      [2, 'thumbs', null, 0],
    ])
    expect([...store.recover()]).toEqual([[1, 1, 0, 0]])
    expect(store.findByKey(1, 'k-1')).toBe(1)
    expect(store.finishedCounts().sort()).toEqual([
      [1, State.failed, 1],
      [2, State.completed, 1],
    ])
    expect(store.finishedIds(1, State.failed, Number.MAX_SAFE_INTEGER, 10)).toEqual([2])
    expect(store.row(2)).toMatchObject({ queueId: 1, state: State.failed, attempts: 3 })
    // the new columns work: a queue setting and a job with backoff
    store.saveQueue(1, '{"maxLength":5}', true)
    store.insert(4, 1, 3, 0, -1, null, 1, 1, Buffer.from('d'), 3000, 7, 0, '{"type":"fixed","delayMs":5}')
    store.commit()
    expect(store.loadQueued(4)?.slice(5)).toEqual([7, '{"type":"fixed","delayMs":5}'])
    store.close()
    // and a second open is a no-op migration
    const again = new Store(file, 'normal')
    expect(again.queues()[0]).toMatchObject({ settings: '{"maxLength":5}', paused: 1 })
    again.close()
  })
})
