// How a task's ports reach its guest from any address, not only loopback.
//
// QEMU's user network runs with `restrict=on`, and then slirp's DHCP gives
// the guest no router. A `hostfwd` connection from a loopback source reaches
// the guest from 10.0.2.2 (on its own subnet), so it answers; from any other
// source (another node, the node's own address: Consul's checks, every
// ingress) the guest sees the real source address, has no route back to it,
// and the connection stays in SYN_SENT. So for a port on a non-loopback
// address QEMU's forward listens on 127.0.0.1:<inner port> instead, and a
// relay of the plugin listens on the address and port Nomad allocated and
// pipes each connection to the inner port: slirp sees a loopback source.
// Forwards on a loopback address stay direct (no relay, nothing to fix).
import net from 'node:net'
import type { Logger } from 'pino'
import type { PortForward } from './domain-xml.ts'
import { VirtError } from './errors.ts'

/** A connection silent this long (both ways) is dropped, as egress.ts's streams are. */
const IDLE_MS = 5 * 60_000
/** Connections one relay carries at once; more are closed as they arrive. */
export const MAX_RELAY_CONNECTIONS = 256

export interface RelayOptions {
  readonly idleMs?: number
  readonly maxConnections?: number
}

/** Whether connections to `address` come from a loopback source (so slirp rewrites it to 10.0.2.2). */
export function isLoopback(address: string | undefined): boolean {
  return address === undefined || address.startsWith('127.') || address === '::1' || address === 'localhost'
}

/** Whether a forward needs a relay: TCP on a non-loopback address (UDP forwards stay as they are). */
export function needsRelay(p: PortForward): boolean {
  return (p.protocol ?? 'tcp') === 'tcp' && !isLoopback(p.hostAddress)
}

/**
 * Free loopback ports, one per forward that needs a relay, set as each
 * forward's innerPort. The ports are held until `release()`, which the caller
 * runs just before QEMU binds them: another process could take one in that
 * gap, and then QEMU refuses to start (a host forwarding rule it cannot set
 * up) and the start fails as for any taken port.
 */
export async function reserveInnerPorts(
  ports: readonly PortForward[],
): Promise<{ ports: PortForward[]; release: () => Promise<void> }> {
  const held: net.Server[] = []
  const release = () =>
    Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {})
  try {
    const out: PortForward[] = []
    for (const p of ports) {
      if (!needsRelay(p)) {
        out.push(p)
        continue
      }
      const server = net.createServer()
      held.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve())
      })
      out.push({ ...p, innerPort: (server.address() as net.AddressInfo).port })
    }
    return { ports: out, release }
  } catch (err) {
    await release()
    throw new VirtError('LEAN_ERR_VIRT_PORT_IN_USE', `ports: no free loopback port for a relay: ${(err as Error).message}`)
  }
}

/** One relayed connection: pipes both ways, ends each side when the other ends, destroys both on error. */
function relayConnection(client: net.Socket, innerPort: number, idleMs: number, log: Logger): void {
  const inner = net.connect({ host: '127.0.0.1', port: innerPort, allowHalfOpen: true })
  const drop = (err?: Error) => {
    if (err) log.debug({ err: err.message }, 'relay: connection dropped')
    client.destroy()
    inner.destroy()
  }
  client.on('error', drop)
  inner.on('error', drop)
  // A side fully closed (both halves, or reset): the other has nothing left to carry.
  client.on('close', () => inner.destroy())
  inner.on('close', () => client.destroy())
  client.setTimeout(idleMs, () => drop(new Error(`idle for ${idleMs} ms`)))
  // pipe() ends the destination when the source ends: a half-close passes through.
  client.pipe(inner)
  inner.pipe(client)
}

/** The relays of one VM task: one listener per forward with an innerPort. */
export class PortRelays {
  readonly #servers: readonly net.Server[]
  readonly #connections: Set<net.Socket>

  private constructor(servers: readonly net.Server[], connections: Set<net.Socket>) {
    this.#servers = servers
    this.#connections = connections
  }

  /**
   * Listens on hostAddress:hostPort of each forward that has an innerPort
   * (a new task's, or a recovered one's from its state). Fails, closing what
   * it opened, if one of them cannot be had.
   */
  static async start(ports: readonly PortForward[], log: Logger, options: RelayOptions = {}): Promise<PortRelays> {
    const connections = new Set<net.Socket>()
    const servers: net.Server[] = []
    const relayed = ports.filter((p) => p.innerPort !== undefined)
    try {
      for (const p of relayed) {
        const relayLog = log.child({ relay: `${p.hostAddress}:${p.hostPort}`, innerPort: p.innerPort })
        const server = net.createServer({ allowHalfOpen: true }, (client) => {
          connections.add(client)
          client.on('close', () => connections.delete(client))
          relayConnection(client, p.innerPort!, options.idleMs ?? IDLE_MS, relayLog)
        })
        // Past the cap Node closes a new connection at once.
        server.maxConnections = options.maxConnections ?? MAX_RELAY_CONNECTIONS
        servers.push(server)
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host: p.hostAddress, port: p.hostPort, exclusive: true }, () => resolve())
        })
        server.on('error', (err) => relayLog.error({ err: err.message }, 'relay: listener failed'))
      }
    } catch (err) {
      for (const s of servers) s.close()
      const p = relayed[servers.length - 1]
      throw new VirtError(
        'LEAN_ERR_VIRT_PORT_IN_USE',
        `ports: could not listen on ${p?.hostAddress}:${p?.hostPort}: ${(err as Error).message}`,
      )
    }
    return new PortRelays(servers, connections)
  }

  /** Stops listening and ends every connection. Idempotent. */
  close(): void {
    for (const server of this.#servers) server.close()
    for (const c of this.#connections) c.destroy()
  }
}
