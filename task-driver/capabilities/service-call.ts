// Calls `<name>.service.consul` the way a platform should: the instance and
// its (dynamic) port come from Consul's SRV answer, which lists only passing
// instances. A plain `http://<name>.service.consul/` URL would lose the port.
import { randomInt } from 'node:crypto'
import { Resolver } from 'node:dns/promises'
import { Refusal } from './capability-refusal.ts'

export interface ServiceRequest {
  readonly method: string
  /** Path and query below the service root, without the leading slash. */
  readonly path: string
  readonly contentType?: string
  /** More request headers (the outbox's idempotency-key); a content-type here wins over `contentType`. */
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Buffer
  readonly timeoutMs?: number
}

export interface ServiceResponse {
  readonly status: number
  readonly contentType: string
  readonly body: Buffer
}

export async function locateService(consulDns: string, name: string): Promise<string> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 })
  resolver.setServers([consulDns])
  const records = await resolver.resolveSrv(`${name}.service.consul`).catch(() => [])
  if (records.length === 0) throw new Refusal(503, `service ${name} has no passing instances`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
  const pick = records[randomInt(records.length)]!
  const [address] = await resolver.resolve4(pick.name)
  return `${address}:${pick.port}`
}

export async function callService(consulDns: string, name: string, request: ServiceRequest): Promise<ServiceResponse> {
  const authority = await locateService(consulDns, name)
  let upstream: Response
  try {
    upstream = await fetch(`http://${authority}/${request.path}`, {
      method: request.method,
      headers: { 'content-type': request.contentType ?? 'application/octet-stream', ...request.headers },
      ...(request.body && request.method !== 'GET' && request.method !== 'HEAD' && { body: request.body }),
      signal: AbortSignal.timeout(request.timeoutMs ?? 30_000),
    })
  } catch (err) {
    const reason = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message
    throw new Refusal(503, `service ${name} at ${authority} did not answer: ${reason}`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
  }
  return {
    status: upstream.status,
    contentType: upstream.headers.get('content-type') ?? 'application/octet-stream',
    body: Buffer.from(await upstream.arrayBuffer()),
  }
}
