// Every reply's bytes are contiguous (PROTOCOL.md §1): a request whose effects deliver jobs to a
// consumer or pop of the same connection still gets its reply whole, and the deliveries beside it.

import { describe, expect, it } from 'vitest'
import { connectClient, gate, startBroker, waitFor } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('replies are contiguous', () => {
  it('the exact frame from issue 9 (hello; consume; submit_many to that queue) gets welcome, ok, submitted whole and two deliveries', async () => {
    const b = await startBroker()
    const client = await RawClient.open(b.url)
    client.sendBytes(Buffer.from('95010101c0c09604020191a1710ac0940303a1719292c40101c092c40102c0', 'hex'))
    await client.waitFor(
      (m) => m[0] === Op.deliver && client.messages.filter((x) => x[0] === Op.deliver).length === 2,
      3_000,
      'two deliveries',
    )
    expect(client.undecodable).toHaveLength(0)
    const ops = client.messages.map((m) => m[0])
    expect(ops.filter((op) => op === Op.welcome)).toHaveLength(1)
    expect(client.messages.find((m) => m[0] === Op.ok)).toEqual([Op.ok, 2, null])
    const submitted = client.messages.find((m) => m[0] === Op.submitted) as unknown[]
    expect(submitted[1]).toBe(3)
    const ids = submitted[2] as number[]
    expect(ids).toHaveLength(2)
    expect(ids.every((id) => Number.isSafeInteger(id) && id > 0)).toBe(true)
    expect(submitted[3]).toEqual([false, false])
    const delivered = client.messages.filter((m) => m[0] === Op.deliver)
    expect(delivered.map((m) => m[2])).toEqual(ids)
    expect(delivered.map((m) => Buffer.from(m[4] as Uint8Array).toString('hex'))).toEqual(['01', '02'])
    // Nothing but whole messages of known ops arrived.
    expect(ops.every((op) => [Op.welcome, Op.ok, Op.submitted, Op.deliver].includes(op as never))).toBe(true)
  })

  it('submit_many answered while a pending pop of the same connection takes the first job', async () => {
    const b = await startBroker()
    const { client } = await RawClient.session(b.url)
    client.send([Op.pop, 10, ['fi-pop'], 5_000])
    await new Promise((r) => setTimeout(r, 100))
    client.send([Op.submitMany, 11, 'fi-pop', [[bin('x')], [bin('y')], [bin('z')]]])
    const submitted = await client.reply(11)
    expect(submitted[0]).toBe(Op.submitted)
    expect((submitted[2] as number[]).length).toBe(3)
    const popped = await client.reply(10)
    expect(popped[0]).toBe(Op.popped)
    expect(popped[2]).toBe((submitted[2] as number[])[0])
    expect(client.undecodable).toHaveLength(0)
  })

  it('through the SDK: consume(concurrency 4) then submitMany on the same client runs all three jobs', async () => {
    const b = await startBroker()
    const c = await connectClient(b.url)
    const seen: string[] = []
    const release = gate()
    c.consume(
      'fi-sdk',
      async (job) => {
        seen.push(job.payload as string)
        await release.promise
        return job.payload
      },
      { concurrency: 4 },
    )
    await c.ping()
    const r = await c.submitMany('fi-sdk', ['a', 'b', 'c'])
    expect(r.duplicates).toEqual([false, false, false])
    expect(r.ids.every((id) => /^[1-9][0-9]*$/.test(id))).toBe(true)
    await waitFor(() => seen.length === 3, 5_000, 'three handlers running')
    expect(seen.sort()).toEqual(['a', 'b', 'c'])
    release.open()
    for (const [i, id] of r.ids.entries()) expect(await c.result(id, { timeoutMs: 5_000 })).toBe(['a', 'b', 'c'][i])
  })
})
