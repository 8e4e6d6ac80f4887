// A TCP relay on a fixed local port in front of a broker whose port may change: lets SDK reconnect
// tests restart the broker (on a new port) while the client keeps dialing the same address.
// When the broker side closes, the client side is closed too, as a real broker death would do.

import net from 'node:net'
import { onCleanup } from './broker.js'

export interface Relay {
  url: string
  port: number
  /** Where new connections go from now on. */
  retarget(port: number): void
  /** Destroys every relayed connection (as if the network dropped them). */
  dropAll(): void
}

export async function startRelay(targetPort: number): Promise<Relay> {
  let target = targetPort
  const pairs = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    pairs.add(client)
    pairs.add(upstream)
    const closeBoth = () => {
      client.destroy()
      upstream.destroy()
      pairs.delete(client)
      pairs.delete(upstream)
    }
    client.on('error', closeBoth).on('close', closeBoth)
    upstream.on('error', closeBoth).on('close', closeBoth)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  const dropAll = () => {
    for (const s of [...pairs]) s.destroy()
    pairs.clear()
  }
  onCleanup(async () => {
    dropAll()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    retarget(p: number) {
      target = p
    },
    dropAll,
  }
}
