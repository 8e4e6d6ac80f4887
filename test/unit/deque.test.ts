import { describe, expect, it } from 'vitest'
import { Deque } from '../../src/deque.js'

describe('Deque', () => {
  it('keeps FIFO order across growth and wrap-around', () => {
    const d = new Deque<number>(4)
    const expected: number[] = []
    let next = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 7; i++) {
        d.push(next)
        expected.push(next++)
      }
      for (let i = 0; i < round % 5 && expected.length > 0; i++) expect(d.shift()).toBe(expected.shift())
    }
    expect([...d]).toEqual(expected)
    expect(d.length).toBe(expected.length)
  })

  it('unshift puts an item in front', () => {
    const d = new Deque<string>(2)
    d.push('b')
    d.push('c')
    d.unshift('a')
    expect([d.shift(), d.shift(), d.shift(), d.shift()]).toEqual(['a', 'b', 'c', undefined])
  })

  it('holds a million items', () => {
    const d = new Deque<number>()
    for (let i = 0; i < 1_000_000; i++) d.push(i)
    expect(d.length).toBe(1_000_000)
    expect(d.peek()).toBe(0)
  })
})
