// Which transactions may wait for a later commit (Broker.flush defers only these when the turn
// answers nobody): those holding nothing but completions.

import { describe, expect, it } from 'vitest'
import { Store } from '../../src/store.js'
import { State } from '../../src/lifecycle.js'

function storeWithJob(): Store {
  const store = new Store(':memory:', 'normal')
  const q = store.createQueue('q')
  store.insert(1, q, 3, 0, -1, null, 1, 1, Buffer.from('a'), 1000, 0, 0, null)
  store.insert(2, q, 3, 0, -1, null, 1, 2, Buffer.from('b'), 1000, 0, 0, null)
  store.commit()
  return store
}

describe('deferrable transactions', () => {
  it('a transaction of completions only is deferrable; after its commit nothing is open', () => {
    const store = storeWithJob()
    expect(store.deferrable).toBe(false) // nothing open
    store.finish(1, State.completed, 1, Buffer.from('r'), null, 2000, 9000)
    expect(store.deferrable).toBe(true)
    store.finish(2, State.completed, 1, null, null, 2000, 9000)
    expect(store.deferrable).toBe(true)
    store.commit()
    expect(store.deferrable).toBe(false)
    expect(store.row(1)?.state).toBe(State.completed)
  })

  it('a failure, a retry, a submit or a queue change makes it urgent, also when it joins an open deferred one', () => {
    const urgent: Array<[string, (s: Store) => void]> = [
      ['failed', (s) => s.finish(2, State.failed, 3, null, Buffer.from('e'), 2000, 9000)],
      ['retry', (s) => s.retry(2, 1, Buffer.from('e'), 0)],
      ['insert', (s) => s.insert(3, 1, 3, 0, -1, null, 1, 3, Buffer.from('c'), 1000, 0, 0, null)],
      ['queue', (s) => s.createQueue('other')],
    ]
    for (const [what, write] of urgent) {
      const store = storeWithJob()
      let wakes = 0
      store.onWrite = () => wakes++
      store.finish(1, State.completed, 1, null, null, 2000, 9000)
      expect(wakes, what).toBe(1)
      write(store)
      expect(store.deferrable, what).toBe(false)
      expect(wakes, `${what}: an urgent write schedules a flush even inside a deferred transaction`).toBe(2)
      store.commit()
    }
  })
})
