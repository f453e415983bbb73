// Calls through the cloud's ingress (jobs/ingress.ts) as a user's client does:
// to the ingress port on 127.0.0.1 with `Host: <app>.lean.localhost` (curl
// sends every `*.localhost` name to 127.0.0.1; Node's resolver does not, so the
// address is given and the name goes in the Host header), over keep-alive
// connections. The demo, the tests and the benchmarks use it.
import http from 'node:http'
import { INGRESS_DOMAIN, INGRESS_HEALTH_PATH } from '../../jobs/ingress.ts'
import { waitFor } from './wait.ts'

export interface IngressAnswer {
  readonly status: number
  readonly body: string
}

export interface IngressClient {
  request(hostLabel: string, options?: { method?: string; path?: string; json?: unknown; timeoutMs?: number }): Promise<IngressAnswer>
  close(): void
}

/** A client of the ingress listening on `address`:`port` (a cluster's node address, or loopback). */
export function ingressClient(port: number, address = '127.0.0.1'): IngressClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  return {
    request(hostLabel, options = {}) {
      const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json))
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: address,
            port,
            path: options.path ?? '/',
            method: options.method ?? (body ? 'POST' : 'GET'),
            agent,
            headers: {
              host: `${hostLabel}.${INGRESS_DOMAIN}:${port}`,
              ...(body && { 'content-type': 'application/json', 'content-length': body.length }),
            },
            timeout: options.timeoutMs ?? 60_000,
          },
          (res) => {
            let text = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => (text += chunk))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
            res.on('error', reject)
          },
        )
        req.on('timeout', () => req.destroy(new Error('no answer in time')))
        req.on('error', reject)
        req.end(body)
      })
    },
    close: () => agent.destroy(),
  }
}

/** Waits until the ingress on `port` answers its own health check. */
export async function waitForIngress(port: number, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}${INGRESS_HEALTH_PATH}`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200,
    { timeoutMs, intervalMs: 250, what: `the ingress to answer on 127.0.0.1:${port}` },
  )
}

/** Waits until `hostLabel` answers `status` through the ingress (a GET of `path`). */
export async function waitForRoute(client: IngressClient, hostLabel: string, status: number, path = '/health', timeoutMs = 120_000): Promise<void> {
  await waitFor(async () => (await client.request(hostLabel, { path }).catch(() => undefined))?.status === status, {
    timeoutMs,
    intervalMs: 250,
    what: `${hostLabel}.${INGRESS_DOMAIN} to answer ${status} through the ingress`,
  })
}
