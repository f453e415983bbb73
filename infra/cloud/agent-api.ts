// One JSON call to Consul's or Nomad's HTTP API with an ACL token, for the
// cloud's own set-up (policies, tokens, namespaces): a 404 is "absent", any
// other failure an error naming the agent, the call and its answer.
import type { CloudConfig } from './config.ts'
import { cloudFetch } from './tls.ts'

/** fetch as the caller needs it: `cloud:up` trusts only the cloud's CA (cloudFetch); the tests trust it process-wide. */
export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>

export interface AgentApi {
  readonly agent: 'Consul' | 'Nomad'
  readonly fetchFn: FetchFn
  readonly origin: string
  /** The header the agent reads its token from, and the token. */
  readonly tokenHeader: 'x-consul-token' | 'x-nomad-token'
  readonly token: string
}

export async function agentJson<T>(api: AgentApi, method: string, path: string, body?: unknown): Promise<T | undefined> {
  const res = await api.fetchFn(`${api.origin}${path}`, {
    method,
    headers: { [api.tokenHeader]: api.token },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`${api.agent} ${method} ${path} answered ${res.status}: ${text.trim()}`)
  return (text ? JSON.parse(text) : undefined) as T
}

/** The cloud's own Consul or Nomad at `origin`, called with `token` and trusting only the cloud's CA. */
export function cloudAgentApi(config: CloudConfig, agent: AgentApi['agent'], origin: string, token: string): AgentApi {
  return {
    agent,
    fetchFn: (url, init) => cloudFetch(config, url, init),
    origin,
    tokenHeader: agent === 'Consul' ? 'x-consul-token' : 'x-nomad-token',
    token,
  }
}
