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
import { controllerConsulPolicy, NOMAD_CONSUL_POLICY, type AclPolicy } from '../identities.ts'
import { agentJson, cloudAgentApi, type AgentApi } from '../agent-api.ts'

/** What DNS (and any request without a token) may do: find services and nodes. */
const DNS_POLICY: AclPolicy = {
  Name: 'lean-dns',
  Description: 'Consul DNS and requests without a token: read services and nodes',
  Rules: 'node_prefix "" { policy = "read" }\nservice_prefix "" { policy = "read" }\n',
}

export function consulConfigFor(config: CloudConfig, credentials: Credentials): string {
  const paths = layout(config)
  const node = config.node
  const agentConfig = {
    node_name: node?.name ?? 'lean-cloud',
    datacenter: 'dc1',
    server: true,
    // A cluster's nodes are all servers: the first leader is elected once every one has joined.
    bootstrap_expect: node?.peers.length ?? 1,
    ...(node && { retry_join: node.peers.filter((p) => p !== config.host).map((p) => `${p}:${config.consul.serfLanPort}`) }),
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
    // A lost node is suspected after a few missed probes (~3 s, not the default's 5-24 s), so DNS drops its instances sooner.
    ...(node && { gossip_lan: { probe_interval: '500ms', probe_timeout: '250ms', suspicion_mult: 3 } }),
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

/**
 * Makes (or brings up to date) a policy and a token with the given secret
 * holding just that policy; returns whether the token was new. The secret is
 * ours (Consul takes it from the caller), so it survives in credentials.json.
 */
export async function ensureConsulIdentity(consul: AgentApi, policy: AclPolicy, secret: string, description: string): Promise<boolean> {
  // By listing: Consul answers a read of an unknown policy name with 403 "ACL not found", like a bad token.
  const listed = ((await agentJson<Array<{ ID: string; Name: string }>>(consul, 'GET', '/v1/acl/policies')) ?? []).find((p) => p.Name === policy.Name)
  const existing = listed && (await agentJson<{ ID: string; Rules: string; Description: string }>(consul, 'GET', `/v1/acl/policy/${listed.ID}`))
  if (!existing) await agentJson(consul, 'PUT', '/v1/acl/policy', policy)
  else if (existing.Rules !== policy.Rules || existing.Description !== policy.Description)
    await agentJson(consul, 'PUT', `/v1/acl/policy/${existing.ID}`, policy)
  // Any existing token may read itself; an unknown one is refused.
  const self = await consul.fetchFn(`${consul.origin}/v1/acl/token/self`, { headers: { 'x-consul-token': secret }, signal: AbortSignal.timeout(10_000) })
  await self.body?.cancel()
  if (self.status === 200) return false
  await agentJson(consul, 'PUT', '/v1/acl/token', { SecretID: secret, Description: description, Policies: [{ Name: policy.Name }] })
  return true
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

  // The DNS token and the controller's, with their policies (their secrets are in credentials.json).
  async ensureResources({ config, credentials, progress }) {
    const consul = cloudAgentApi(config, 'Consul', consulOrigin(config), credentials.consulManagementToken)
    // The first leader bootstraps the ACL system a moment after the agent answers.
    await waitFor(async () => (await agentJson(consul, 'GET', '/v1/acl/token/self').catch(() => undefined)) !== undefined, {
      timeoutMs: 60_000,
      what: "Consul's ACL system to accept the management token",
    })
    if (await ensureConsulIdentity(consul, DNS_POLICY, credentials.consulDnsToken, 'Consul DNS and requests without a token'))
      progress('Consul ACLs: made the DNS token (reads services and nodes)')
    if (await ensureConsulIdentity(consul, NOMAD_CONSUL_POLICY, credentials.consulNomadToken, "Nomad's agent"))
      progress("Consul ACLs: made Nomad's token (reads the agent and nodes, registers services)")
    const controller = controllerConsulPolicy('lean-controller', config.controller)
    if (await ensureConsulIdentity(consul, controller, credentials.consulControllerToken, 'The cloud\'s controller (LEAN_CONTROLLER_CONSUL_TOKEN)'))
      progress(`Consul ACLs: made the controller's token (reads ${config.controller.appsPrefix}, writes ${config.controller.statusPrefix})`)
  },
}
