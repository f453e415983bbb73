// A TCP port that is free right now on loopback, chosen by the kernel, for a
// server a test or benchmark starts by itself (never one inside a cloud's Nomad port range).
import net from 'node:net'

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
