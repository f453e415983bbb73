// Consul: a single-server agent with a persistent data dir (so KV survives a
// restart), HTTP API and UI, and DNS for *.service.consul on its own port.
// ACLs deny by default (the management token is in credentials.json and
// cloud.env as CONSUL_HTTP_TOKEN), gossip is encrypted, and DNS answers with a
// token that may only read services and nodes. The API is HTTPS only (on the
// configured HTTP port, so addresses keep their port) and RPC is mutual TLS,
// with certificates of the cloud's CA (infra/cloud/tls.ts).
import { mkdir, readFile } from 'node:fs/promises'
import type { Agent } from '../agent.ts'
import { layout, type CloudConfig } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import { writeFileAtomic } from '../files.ts'
import { cloudFetch } from '../tls.ts'
import { waitFor } from '../wait.ts'

/** What DNS (and any request without a token) may do: find services and nodes. */
const DNS_POLICY = {
  Name: 'lean-dns',
  Description: 'Consul DNS and requests without a token: read services and nodes',
  Rules: 'node_prefix "" { policy = "read" }\nservice_prefix "" { policy = "read" }\n',
}

export function consulConfigFor(config: CloudConfig, credentials: Credentials): string {
  const paths = layout(config)
  const agentConfig = {
    node_name: 'lean-cloud',
    datacenter: 'dc1',
    server: true,
    bootstrap_expect: 1,
    data_dir: paths.consulData,
    bind_addr: config.host,
    advertise_addr: config.host,
    client_addr: config.host,
    ui_config: { enabled: true },
    disable_update_check: true,
    log_level: 'INFO',
    ports: {
      // HTTPS only, on the port plain HTTP had.
      http: -1,
      https: config.consul.httpPort,
      dns: config.consul.dnsPort,
      server: config.consul.serverPort,
      serf_lan: config.consul.serfLanPort,
      serf_wan: config.consul.serfWanPort,
      grpc: config.consul.grpcPort,
      // Consul 1.14 opens a TLS gRPC port (8503) by default: a second
      // cloud on the host would collide on it, and nothing here uses it.
      grpc_tls: -1,
    },
    // A one-node cloud: answer DNS from any server without waiting on a leader round trip.
    dns_config: { allow_stale: true, enable_truncate: true },
    performance: { raft_multiplier: 1 },
    encrypt: credentials.consulGossipKey,
    tls: {
      defaults: {
        ca_file: paths.tls.caCert,
        cert_file: paths.tls.consulCert,
        key_file: paths.tls.consulKey,
        verify_outgoing: true,
      },
      // RPC: both ends show a certificate of the CA, and a server's must name server.dc1.consul.
      internal_rpc: { verify_incoming: true, verify_server_hostname: true },
      // The API needs no client certificate: curl, browsers and Node trust the CA and send a token.
      https: { verify_incoming: false },
    },
    acl: {
      enabled: true,
      default_policy: 'deny',
      down_policy: 'extend-cache',
      enable_token_persistence: true,
      tokens: {
        initial_management: credentials.consulManagementToken,
        // The agent registers its own node with the management token (the cloud's own infrastructure).
        agent: credentials.consulManagementToken,
        // Requests without a token, DNS among them, act as this one (ensureResources makes it).
        default: credentials.consulDnsToken,
      },
    },
  }
  return `${JSON.stringify(agentConfig, null, 2)}\n`
}

/** The cloud's Consul API. */
export const consulOrigin = (config: CloudConfig) => `https://${config.host}:${config.consul.httpPort}`

/** A Consul HTTP call with the management token; undefined for 404. */
async function consulApi<T>(config: CloudConfig, credentials: Credentials, method: string, path: string, body?: unknown): Promise<T | undefined> {
  const res = await cloudFetch(config, `${consulOrigin(config)}${path}`, {
    method,
    headers: { 'x-consul-token': credentials.consulManagementToken },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`Consul ${method} ${path} answered ${res.status}: ${text.trim()}`)
  return (text ? JSON.parse(text) : undefined) as T
}

export const consulAgent: Agent = {
  name: 'consul',
  usesTls: true,
  programs: ['consul'],
  ports: (c) => [c.consul.httpPort, c.consul.serverPort, c.consul.serfLanPort, c.consul.serfWanPort, c.consul.grpcPort],
  stopSignal: 'SIGINT',
  stopGraceMs: 15_000,

  async prepare({ config, credentials }) {
    const paths = layout(config)
    await mkdir(paths.consulData, { recursive: true })
    // Owner-only: the management token and the gossip key are in it.
    await writeFileAtomic(`${paths.consulData}.json`, consulConfigFor(config, credentials), 0o600)
  },

  // An agent started with another config (before ACLs, or other credentials) restarts to take it; KV survives.
  async restartReason({ config, credentials }) {
    const file = `${layout(config).consulData}.json`
    const written = await readFile(file, 'utf8').catch(() => '')
    return written === consulConfigFor(config, credentials) ? undefined : `its config ${file} is out of date`
  },

  async spawnSpec({ config, binaries }) {
    return { command: binaries.consul!, args: ['agent', `-config-file=${layout(config).consulData}.json`] }
  },

  async health({ config }) {
    const res = await cloudFetch(config, `${consulOrigin(config)}/v1/status/leader`, { signal: AbortSignal.timeout(2000) })
    const leader = (await res.json()) as string
    return res.ok && leader ? `leader ${leader}` : false
  },

  // The DNS token's policy and the token itself (its secret is in credentials.json), made once.
  async ensureResources({ config, credentials, progress }) {
    // The first leader bootstraps the ACL system a moment after the agent answers.
    await waitFor(async () => (await consulApi(config, credentials, 'GET', '/v1/acl/token/self').catch(() => undefined)) !== undefined, {
      timeoutMs: 60_000,
      what: "Consul's ACL system to accept the management token",
    })
    const policies = (await consulApi<Array<{ Name: string }>>(config, credentials, 'GET', '/v1/acl/policies')) ?? []
    if (!policies.some((p) => p.Name === DNS_POLICY.Name)) await consulApi(config, credentials, 'PUT', '/v1/acl/policy', DNS_POLICY)
    // Any existing token may read itself; an unknown one is refused.
    const dnsToken = await cloudFetch(config, `${consulOrigin(config)}/v1/acl/token/self`, {
      headers: { 'x-consul-token': credentials.consulDnsToken },
      signal: AbortSignal.timeout(10_000),
    })
    if (dnsToken.status !== 200) {
      await consulApi(config, credentials, 'PUT', '/v1/acl/token', {
        SecretID: credentials.consulDnsToken,
        Description: 'Consul DNS and requests without a token',
        Policies: [{ Name: DNS_POLICY.Name }],
      })
      progress('Consul ACLs: made the DNS token (reads services and nodes)')
    }
  },
}
