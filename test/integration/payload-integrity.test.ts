// Every stored payload is the exact bytes submitted: jobs written in batches (buffered multi-row
// inserts, pointing into the frame until written) must survive kill -9 and restart intact.

import { describe, expect, it } from 'vitest'
import { connectClient, startBroker, waitFor } from '../helpers/broker.js'

describe('payload integrity', () => {
  it('after kill -9 and restart, each job delivers exactly the payload it was submitted with', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const sent = new Map<string, unknown>()
    const payload = (i: number) => ({ i, text: `job-${i}-`.repeat(1 + (i % 7)), bytes: new Uint8Array([i & 255, (i >> 8) & 255, 7]) })
    // Single submits made in one tick share frames; batches fill whole multi-row statements and remainders.
    const singles = await Promise.all(Array.from({ length: 300 }, (_, i) => producer.submit('pi-q', payload(i))))
    singles.forEach((r, i) => sent.set(r.id, payload(i)))
    for (const size of [16, 17, 1, 250]) {
      const base = sent.size
      const items = Array.from({ length: size }, (_, k) => payload(base + k))
      const { ids } = await producer.submitMany('pi-q', items)
      ids.forEach((id, k) => sent.set(id, items[k]))
    }
    await b.kill9()
    const b2 = await b.restart()
    const worker = await connectClient(b2.url)
    const got = new Map<string, unknown>()
    worker.consume('pi-q', (job) => void got.set(job.id, job.payload), { concurrency: 32 })
    await waitFor(() => got.size === sent.size, 15_000, `all ${sent.size} jobs delivered`)
    // Compare contents (a bin decodes as a Buffer, a Uint8Array subclass).
    const norm = (v: unknown): unknown =>
      v instanceof Uint8Array
        ? Array.from(v)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]))
          : v
    const plain = (v: unknown) => JSON.stringify(norm(v))
    for (const [id, p] of sent) expect(plain(got.get(id)), `job ${id}`).toBe(plain(p))
  })
})
