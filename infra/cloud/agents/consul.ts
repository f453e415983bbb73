// Consul: a single-server agent with a persistent data dir (so KV survives a
// restart), HTTP API and UI, and DNS for *.service.consul on its own port.
import { mkdir, writeFile } from 'node:fs/promises'
import { layout } from '../config.ts'
import { httpGet, type Agent } from '../agent.ts'

export const consulAgent: Agent = {
  name: 'consul',
  programs: ['consul'],
  ports: (c) => [c.consul.httpPort, c.consul.serverPort, c.consul.serfLanPort, c.consul.serfWanPort, c.consul.grpcPort],
  stopSignal: 'SIGINT',
  stopGraceMs: 15_000,

  async prepare({ config }) {
    const paths = layout(config)
    await mkdir(paths.consulData, { recursive: true })
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
        http: config.consul.httpPort,
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
    }
    await writeFile(`${paths.consulData}.json`, `${JSON.stringify(agentConfig, null, 2)}\n`)
  },

  async spawnSpec({ config, binaries }) {
    return { command: binaries.consul!, args: ['agent', `-config-file=${layout(config).consulData}.json`] }
  },

  async health({ config }) {
    const res = await httpGet(`http://${config.host}:${config.consul.httpPort}/v1/status/leader`)
    const leader = (await res.json()) as string
    return res.ok && leader ? `leader ${leader}` : false
  },
}
