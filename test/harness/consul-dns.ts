// Finding a service the way users do: Consul DNS, SRV for the port.
import { Resolver } from 'node:dns/promises'
import { waitFor } from '../../infra/cloud/wait.ts'

/** `http://<address>:<port>` of one passing instance of `name`, from Consul's SRV answer. */
export async function serviceUrl(consulDnsAddr: string, name: string, timeoutMs = 60_000): Promise<string> {
  const resolver = new Resolver({ timeout: 1000, tries: 1 })
  resolver.setServers([consulDnsAddr])
  return waitFor(
    async () => {
      const [srv] = await resolver.resolveSrv(`${name}.service.consul`).catch(() => [])
      if (!srv) return false
      const [address] = await resolver.resolve4(srv.name)
      return `http://${address}:${srv.port}`
    },
    { timeoutMs, what: `${name}.service.consul to resolve (SRV)`, intervalMs: 250 },
  )
}
