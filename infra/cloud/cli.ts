// Entry point of `npm run cloud:up|down|status|reset`.
import { loadConfig, type CloudConfig } from './config.ts'
import { loadOrCreateCredentials } from './credentials.ts'
import { down } from './down.ts'
import { CloudError } from './errors.ts'
import { agents } from './agents/all.ts'
import { agentStatus, reset, unitName, up, type UpResult } from './up.ts'
import { clusterUnits, downCluster, existingCluster, upCluster } from './cluster.ts'
import { MAX_NODES } from './cluster-network.ts'

const started = Date.now()
function progress(message: string): void {
  const secs = ((Date.now() - started) / 1000).toFixed(1).padStart(5)
  process.stderr.write(`[cloud ${secs}s] ${message}\n`)
}

function printAddresses(config: CloudConfig, result: UpResult): void {
  const e = result.env
  process.stdout.write(
    [
      '',
      'The lean cloud is up:',
      `  Consul UI     ${e.CONSUL_HTTP_ADDR}/ui/   (DNS on ${e.CONSUL_DNS_ADDR}; log in with CONSUL_HTTP_TOKEN from the environment file)`,
      `  Nomad UI      ${e.NOMAD_ADDR}/ui/   (sign in with NOMAD_TOKEN from the environment file)`,
      `  TLS CA        ${e.CONSUL_CACERT}   (every service below speaks TLS only, with this CA; trust it in a browser for the UIs)`,
      `  S3            ${e.S3_ENDPOINT}   buckets: ${config.s3.buckets.join(', ')} (SeaweedFS; HTTPS)`,
      `  PostgreSQL    ${e.DATABASE_URL?.replace(/:[^:@/]+@/, ':***@').replace(/\?.*$/, '')}   (TLS only: sslmode=verify-full with the CA, as DATABASE_URL says)`,
      `  SMTP          ${e.SMTP_ADDR}   STARTTLS required; delivers into the Maildir ${e.MAILDIR}`,
      e.INGRESS_ADDR?.startsWith('127.')
        ? `  Ingress       http://<app>.lean.localhost:${config.ingress.port}/   (HAProxy on ${e.INGRESS_ADDR}, Nomad job lean-ingress in namespace ${config.nomad.systemNamespace})`
        : // A cluster's ingress listens on each node's address; *.localhost names resolve to 127.0.0.1, so curl is told where.
          `  Ingress       curl --resolve <app>.lean.localhost:${config.ingress.port}:${e.INGRESS_ADDR?.split(':')[0]} http://<app>.lean.localhost:${config.ingress.port}/   (HAProxy on every node, Nomad job lean-ingress in namespace ${config.nomad.systemNamespace})`,
      `  Environment   ${result.envFile}   (set -a; . ${result.envFile}; set +a)`,
      '',
    ].join('\n'),
  )
}

/** `--nodes N` (or LEAN_CLOUD_NODES): how many nodes the cloud has; 1 is the single-node cloud. */
function nodeCount(args: readonly string[]): number | undefined {
  const at = args.indexOf('--nodes')
  const raw = at >= 0 ? args[at + 1] : (args.find((a) => a.startsWith('--nodes='))?.slice('--nodes='.length) ?? process.env.LEAN_CLOUD_NODES)
  if (at < 0 && raw === undefined) return undefined
  const n = Number(raw)
  if (!/^\d+$/.test(raw ?? '') || n < 1 || n > MAX_NODES) throw new CloudError('LEAN_ERR_CLOUD_NODES', `--nodes: expected a whole number from 1 to ${MAX_NODES}, got '${raw ?? ''}'`)
  return n
}

async function main(command: string | undefined): Promise<number> {
  const config = loadConfig()
  switch (command) {
    case 'up': {
      const cluster = await existingCluster(config)
      // Without --nodes, the shape the data dir's cloud already has.
      const nodes = nodeCount(process.argv.slice(3)) ?? cluster?.nodes.length ?? 1
      printAddresses(config, nodes > 1 || cluster ? await upCluster(config, nodes, progress) : await up(config, progress))
      return 0
    }
    case 'reset':
      printAddresses(config, await reset(config, process.argv.slice(3), progress))
      return 0
    case 'down': {
      const cluster = await existingCluster(config)
      if (cluster) await downCluster(config, cluster, progress)
      else await down(config, progress)
      return 0
    }
    case 'status': {
      let healthy = true
      const credentials = await loadOrCreateCredentials(config)
      const cluster = await existingCluster(config)
      const units = cluster ? clusterUnits(cluster) : agents.map((agent) => ({ agent, config }))
      for (const unit of units) {
        const s = await agentStatus(unit.config, unit.agent, credentials)
        healthy &&= s.healthy
        process.stdout.write(`${unitName(unit).padEnd(12)} ${(s.healthy ? 'healthy' : 'DOWN').padEnd(8)} ${String(s.pid ?? '-').padEnd(8)} ${s.detail}\n`)
      }
      return healthy ? 0 : 1
    }
    default:
      process.stderr.write('usage: cli.ts up [--nodes N] | down | status | reset <agent>...\n')
      return 2
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof CloudError ? `${err.code}: ` : ''
    process.stderr.write(`\ncloud ${process.argv[2]} failed: ${code}${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
