// A turn that only records completions and answers nobody sends its deliveries without waiting
// for its commit (Broker.flush). What must hold: nobody is ever told of a completion that a crash
// could undo, because any turn that answers anyone commits first. Here the wait is widened to 5 s
// (BROKERD_TEST_DEFER_COMMIT_MS) so that the kill lands inside it: a reader asks for the job right
// after its ack, is told `completed`, the broker is killed: after the restart it must still be.

import { describe, expect, it } from 'vitest'
import { connectClient, startBroker, withTimeout } from '../helpers/broker.js'
import { Op, RawClient, bin } from '../helpers/raw.js'

describe('deferred completion commits', () => {
  it('a completion that a client was told about survives kill -9 (5 rounds, killed as soon as the answer arrives)', async () => {
    let broker = await startBroker({ env: { BROKERD_TEST_DEFER_COMMIT_MS: '5000' } })
    for (let round = 0; round < 5; round++) {
      const producer = await connectClient(broker.url, { reconnect: false })
      const { id } = await producer.submit('q', { round })
      const { client: worker } = await RawClient.session(broker.url)
      worker.send([Op.consume, worker.rid(), 1, ['q'], 1, null])
      const deliver = await worker.waitFor((m) => m[0] === Op.deliver, 3_000, 'the delivery')
      const { client: reader } = await RawClient.session(broker.url)
      // The ack (no reply: rid 0), then on another connection a read of the job once the ack is in.
      worker.send([Op.ack, 0, deliver[2], deliver[5], bin('done')])
      await new Promise((r) => setTimeout(r, 50))
      const rid = reader.rid()
      reader.send([Op.get, rid, Number(id)])
      const reply = await reader.reply(rid)
      await broker.kill9()
      const told = (reply[2] as { state: string }).state
      broker = await broker.restart()
      const after = await connectClient(broker.url, { reconnect: false })
      const snap = await withTimeout(after.get(id), 3_000, 'get after restart')
      expect(told, `round ${round}: the ack is read in order after it`).toBe('completed')
      expect(snap.state, `round ${round}: told completed before the crash`).toBe('completed')
      await after.close()
    }
  })
})
