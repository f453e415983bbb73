// A VM guest's egress: the Consul services its task config grants, and
// nothing else. The guest's user network is restricted (QEMU `restrict=on`),
// so the only connections it can open are the guestfwd targets: one fixed
// address per granted service (10.0.2.100, .101, …, port 80), each a TCP
// stream to a proxy of this plugin on the host's loopback. For each guest
// connection the proxy picks a passing instance from Consul DNS (SRV, no
// token: Consul DNS answers anyone on the node) and pipes bytes both ways.
//
// QEMU opens a guestfwd's stream once and carries every guest connection to
// that address over it, with no sign of where one ends. So the proxy ends the
// stream when the instance ends its side (or fails), and QEMU dials again a
// second later (`reconnect=1`) for the next connection: connections to one
// service go one after another, and the guest sees no close from the host.
import { randomInt } from 'node:crypto'
import { Resolver } from 'node:dns/promises'
import net from 'node:net'
import type { Logger } from 'pino'
import type { GuestForward } from './domain-xml.ts'
import { VirtError } from './errors.ts'

/** The port every granted service answers on inside the guest (`http://<service>.service.consul/`). */
export const EGRESS_GUEST_PORT = 80
/** Grant i is at 10.0.2.(100 + i): above QEMU's DHCP range (.15-.30), below nothing else of slirp's. */
const FIRST_HOST = 100
/** An upstream silent this long is dropped (the guest's next connection gets a fresh stream). */
const IDLE_MS = 5 * 60_000
/** Streams one proxy holds at once: QEMU's is one; anything else on the node dialling it is capped. */
const MAX_STREAMS = 8

export interface EgressGrant extends GuestForward {
  readonly service: string
}

/** The guest's address for grant i. */
export const egressAddress = (i: number): string => `10.0.2.${FIRST_HOST + i}`

/** The guest's `/etc/hosts` entries for the grants. */
export const egressHosts = (grants: readonly EgressGrant[]) =>
  grants.map((g) => ({ address: g.guestAddress, name: `${g.service}.service.consul` }))

/** One passing instance of `service`, from Consul's SRV answer; undefined when none. */
export async function pickInstance(
  consulDns: string,
  service: string,
): Promise<{ host: string; port: number } | undefined> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 })
  resolver.setServers([consulDns])
  const records = await resolver.resolveSrv(`${service}.service.consul`).catch(() => [])
  if (records.length === 0) return undefined
  const pick = records[randomInt(records.length)]!
  const [address] = await resolver.resolve4(pick.name).catch(() => [])
  return address === undefined ? undefined : { host: address, port: pick.port }
}

/** One guest stream: waits for the guest's first bytes, then dials an instance and pipes both ways. */
function serveStream(stream: net.Socket, service: string, consulDns: string, log: Logger): void {
  let upstream: net.Socket | undefined
  const end = () => {
    stream.destroy()
    upstream?.destroy()
  }
  stream.on('error', end)
  stream.on('close', end)
  stream.once('data', (first: Buffer) => {
    stream.pause()
    void pickInstance(consulDns, service).then((target) => {
      if (!target || stream.destroyed) {
        if (!target) log.warn({ service }, 'egress: no passing instance; the guest connection is dropped')
        return end()
      }
      upstream = net.connect(target)
      upstream.setTimeout(IDLE_MS, end)
      upstream.on('error', (err) => {
        log.warn({ service, target, err: err.message }, 'egress: instance connection failed')
        end()
      })
      upstream.on('close', end)
      upstream.once('connect', () => {
        upstream!.write(first)
        stream.pipe(upstream!)
        upstream!.pipe(stream)
        stream.resume()
      })
    }, end)
  })
}

/** The proxies of one VM task: one loopback listener per granted service. */
export class EgressProxies {
  readonly grants: readonly EgressGrant[]
  readonly #servers: readonly net.Server[]
  readonly #streams: Set<net.Socket>

  private constructor(
    grants: readonly EgressGrant[],
    servers: readonly net.Server[],
    streams: Set<net.Socket>,
  ) {
    this.grants = grants
    this.#servers = servers
    this.#streams = streams
  }

  /**
   * Listens for each service, on the port it had (a recovered task: QEMU
   * dials that port) or a free one. Fails, closing what it opened, if a port
   * cannot be had.
   */
  static async start(
    services: readonly { readonly service: string; readonly proxyPort?: number }[],
    consulDns: string | undefined,
    log: Logger,
  ): Promise<EgressProxies> {
    const streams = new Set<net.Socket>()
    if (services.length === 0) return new EgressProxies([], [], streams)
    if (!consulDns)
      throw new VirtError(
        'LEAN_ERR_VIRT_CONFIG',
        'invalid task config: egress: this client has no plugin config consul_dns_addr to find services with',
      )
    const servers: net.Server[] = []
    const grants: EgressGrant[] = []
    try {
      for (const [i, { service, proxyPort }] of services.entries()) {
        const server = net.createServer((stream) => {
          streams.add(stream)
          stream.on('close', () => streams.delete(stream))
          serveStream(stream, service, consulDns, log)
        })
        server.maxConnections = MAX_STREAMS
        servers.push(server)
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host: '127.0.0.1', port: proxyPort ?? 0, exclusive: true }, () => resolve())
        })
        grants.push({
          service,
          guestAddress: egressAddress(i),
          guestPort: EGRESS_GUEST_PORT,
          proxyPort: (server.address() as net.AddressInfo).port,
        })
      }
    } catch (err) {
      for (const s of servers) s.close()
      throw new VirtError(
        'LEAN_ERR_VIRT_PORT_IN_USE',
        `egress: could not listen for ${services[servers.length - 1]?.service}: ${(err as Error).message}`,
      )
    }
    return new EgressProxies(grants, servers, streams)
  }

  /** Stops listening and ends every stream. Idempotent. */
  close(): void {
    for (const server of this.#servers) server.close()
    for (const stream of this.#streams) stream.destroy()
  }
}
