// The one comparison of a presented token with the broker's (--auth-token), for the WebSocket
// hello and the HTTP API alike: constant time, so a wrong guess tells nothing about the token.

import { timingSafeEqual } from 'node:crypto'

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
