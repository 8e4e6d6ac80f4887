// SDK reconnection (clients/client.ts): after the broker dies and comes back the SDK reconnects by
// itself, re-registers its consumers, resumes its watches (a fresh snapshot) and re-sends
// unconfirmed submits. The SDK dials a relay on a fixed port so these tests do not depend on the
// daemon being able to re-bind its old port (tested on its own below).

import { describe, expect, it } from 'vitest'
import { BrokerError } from '../../clients/index.js'
import type { WatchEvent } from '../../clients/types.js'
import { collect, connectClient, sleep, startBroker, waitFor, withTimeout, freeFixedPort } from '../helpers/broker.js'
import { startRelay } from '../helpers/proxy.js'

describe('SDK reconnect', () => {
  it('after kill -9 and restart, the consumer is re-registered and a watch resumes with a new snapshot to the terminal state', async () => {
    const b = await startBroker()
    const relay = await startRelay(b.port)
    const producer = await connectClient(b.url)
    const { id: watchedId } = await producer.submit('rc-watched', { w: 1 })

    const sdk = await connectClient(relay.url, { reconnect: true, maxReconnectDelayMs: 200 })
    const handled: Array<{ id: string; attempt: number }> = []
    sdk.consume('rc-work', (job) => {
      handled.push({ id: job.id, attempt: job.attempt })
      return { via: 'reconnected' }
    })
    const events: WatchEvent[] = []
    const watching = collect(sdk.watch(watchedId), { timeoutMs: 30_000, onItem: (e) => events.push(e) })
    watching.catch(() => {}) // awaited below; keeps an early test failure from also reporting this
    await waitFor(() => events.length === 1, 5_000, 'the first snapshot')
    expect(events[0].type).toBe('snapshot')
    expect(events[0].state).toBe('queued')
    await waitFor(async () => (await producer.stats('rc-work')).queues['rc-work']?.consumers === 1, 5_000, 'consumer registered')

    await b.kill9()
    await producer.close()
    await sleep(300) // the SDK notices and starts retrying against a dead broker
    const b2 = await b.restart()
    relay.retarget(b2.port)

    const fresh = await connectClient(b2.url)
    await waitFor(async () => (await fresh.stats('rc-work')).queues['rc-work']?.consumers === 1, 10_000, 'the consumer re-registered', 50)
    const { id: workId } = await fresh.submit('rc-work', { after: 'restart' })
    expect(await fresh.result(workId, { timeoutMs: 10_000 })).toEqual({ via: 'reconnected' })
    expect(handled).toEqual([{ id: workId, attempt: 1 }])

    // complete the watched job from another client: the resumed watch sees it
    await waitFor(() => events.length >= 2, 10_000, 'a second snapshot after reconnect')
    const job = await fresh.pop('rc-watched', { timeoutMs: 2_000 })
    expect(job?.id).toBe(watchedId)
    await job!.ack({ watched: 'done' })
    const { ended } = await watching
    expect(ended).toBe(true)
    expect(events.map((e) => `${e.type}:${e.state}`)).toEqual([
      'snapshot:queued',
      'snapshot:queued',
      'active:active',
      'completed:completed',
    ])
    expect(events.at(-1)?.result).toEqual({ watched: 'done' })
  })

  it('a job running in a handler when the connection drops is redelivered, and the late result of the lost delivery is not applied', async () => {
    const b = await startBroker({ args: ['--lease-ms', '60000'] })
    const relay = await startRelay(b.port)
    const producer = await connectClient(b.url)
    const sdk = await connectClient(relay.url, { reconnect: true, maxReconnectDelayMs: 200 })
    const attempts: number[] = []
    let releaseFirst: (() => void) | null = null
    sdk.consume(
      'rc-drop',
      async (job) => {
        attempts.push(job.attempt)
        if (job.attempt === 1) await new Promise<void>((r) => (releaseFirst = r))
        return `attempt ${job.attempt}`
      },
      { concurrency: 2 },
    ) // the orphaned first handler still holds one slot after the reconnect
    const { id } = await producer.submit('rc-drop', null)
    await waitFor(() => attempts.length === 1, 5_000, 'first delivery')
    relay.dropAll() // the network drops; broker and SDK both stay up
    await waitFor(() => attempts.length === 2, 10_000, 'redelivery after reconnect')
    expect(attempts).toEqual([1, 2])
    expect(await producer.result(id, { timeoutMs: 5_000 })).toBe('attempt 2')
    releaseFirst!()
    await sleep(200)
    expect((await producer.get(id)).result).toBe('attempt 2')
  })

  it('a submit made while the broker is down is sent after reconnect and confirmed once', async () => {
    const b = await startBroker()
    const relay = await startRelay(b.port)
    const sdk = await connectClient(relay.url, { reconnect: true, maxReconnectDelayMs: 200 })
    await sdk.submit('rc-offline', 'warm-up')
    await b.kill9()
    await sleep(200)
    const pending = sdk.submit('rc-offline', { during: 'outage' })
    pending.catch(() => {}) // awaited below
    const b2 = await b.restart()
    relay.retarget(b2.port)
    const { id, duplicate } = await withTimeout(pending, 15_000, 'the offline submit')
    expect(duplicate).toBe(false)
    const checker = await connectClient(b2.url)
    expect((await checker.stats('rc-offline')).queues['rc-offline']?.queued).toBe(2)
    expect((await checker.get(id)).state).toBe('queued')
  })

  it('the daemon restarts on the same port right after kill -9 while clients were connected', async () => {
    const b = await startBroker({ args: ['--port', String(await freeFixedPort())] })
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(b.url, { reconnect: true, maxReconnectDelayMs: 200 })))
    await Promise.all(clients.map((c) => c.ping()))
    await b.kill9()
    await sleep(200)
    const b2 = await b.restart(['--port', String(b.port)])
    expect(b2.port).toBe(b.port)
    await waitFor(
      async () => {
        await clients[0].ping()
        return true
      },
      10_000,
      'an old client to be reconnected',
      100,
    )
  })

  it('with reconnect: false, requests on a client whose broker died reject instead of hanging', async () => {
    const b = await startBroker()
    const sdk = await connectClient(b.url, { reconnect: false })
    await sdk.submit('rc-none', 1)
    await b.kill9()
    await sleep(300)
    const calls: Record<string, () => Promise<unknown>> = {
      submit: () => sdk.submit('rc-none', 2),
      submitMany: () => sdk.submitMany('rc-none', [3]),
      get: () => sdk.get('1'),
      stats: () => sdk.stats(),
      watch: () => sdk.watch('1').next(),
      run: () => sdk.run('rc-none', 4),
    }
    const outcomes: Record<string, string> = {}
    await Promise.all(
      Object.entries(calls).map(async ([name, call]) => {
        const p = call()
        p.catch(() => {})
        outcomes[name] = await withTimeout(
          p.then(
            () => 'resolved',
            (e: unknown) => (e instanceof BrokerError ? `rejected ${e.code}` : `rejected ${String(e)}`),
          ),
          3_000,
          name,
        ).catch(() => 'still pending after 3 s')
      }),
    )
    expect(outcomes).toEqual({
      submit: 'rejected connection_lost',
      submitMany: 'rejected connection_lost',
      get: 'rejected connection_lost',
      stats: 'rejected connection_lost',
      watch: 'rejected connection_lost',
      run: 'rejected connection_lost',
    })
  })
})
