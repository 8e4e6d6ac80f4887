// Fairness (DESIGN.md): among consumers with free credit the one waiting longest is served first,
// so equal consumers get roughly equal shares and none starves.

import { describe, expect, it } from 'vitest'
import { connectClient, startBroker, waitFor } from '../helpers/broker.js'

describe('fairness', () => {
  it('4 consumers of equal concurrency on separate connections each get 20%-30% of 4,000 quick jobs', async () => {
    const b = await startBroker()
    const producer = await connectClient(b.url)
    const counts = [0, 0, 0, 0]
    let done = 0
    for (let w = 0; w < 4; w++) {
      const conn = await connectClient(b.url)
      conn.consume(
        'fair',
        () => {
          counts[w]++
          done++
          return null
        },
        { concurrency: 4 },
      )
    }
    await waitFor(async () => (await producer.stats('fair')).queues.fair?.consumers === 4, 5_000, '4 consumers registered')

    // Submitted in several batches while the consumers are already parked and working.
    for (let batch = 0; batch < 8; batch++) {
      await producer.submitMany(
        'fair',
        Array.from({ length: 500 }, (_, i) => batch * 500 + i),
      )
    }
    await waitFor(() => done >= 4_000, 30_000, 'all 4,000 jobs handled')
    const shares = counts.map((c) => c / 4_000)
    console.log(`fairness shares: ${shares.map((s) => (s * 100).toFixed(1) + '%').join(' ')}`)
    for (const share of shares) {
      expect(share).toBeGreaterThanOrEqual(0.2)
      expect(share).toBeLessThanOrEqual(0.3)
    }
    const stats = (await producer.stats('fair')).queues.fair
    expect(stats?.queued).toBe(0)
  })
})
