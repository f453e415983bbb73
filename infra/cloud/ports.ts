// Checks that a TCP port is free before an agent is started on it, so a clash
// gets a clear error instead of an agent that dies with a bind error.
import net from 'node:net'

export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}
