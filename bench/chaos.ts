// bench:chaos — a cluster of 3 nodes on this machine (cloud:up -- --nodes 3,
// in its own data dir) runs the demo's wasm apps (6 PDF services spread over
// the nodes, 3 email workers), then four failures, one after another, each
// healed before the next (a killed node is started again with cloud:up):
//   1. every process of one node killed (agents, plugins, tasks) while PDFs are
//      requested through another node's ingress;
//   3. the leading controller killed, and an app changed right after;
//   4. one node cut off its bridge for 60 s, then joined again;
//   2. the node holding Nomad's leader (and Consul's, when there) killed.
// Each figure is printed beside its bound from the issue. Knobs:
// BENCH_SCENARIOS (1,3,4,2), BENCH_PARTITION_SECONDS (60),
// BENCH_HEAL_TIMEOUT_SECONDS (180: how long one healing is watched),
// BENCH_KEEP=1 (leave the cluster up), LEAN_CLOUD_DATA_DIR (.lean-cloud-chaos).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyDocument } from '../cli/commands/apply.ts'
import { ConsulKv } from '../controller/consul-kv.ts'
import { trustCaCertsFromEnv } from '../controller/ca-trust.ts'
import { demoApps } from '../demo/demo-apps.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { loadOrCreateCredentials } from '../infra/cloud/credentials.ts'
import { downCluster, existingCluster, upCluster } from '../infra/cloud/cluster.ts'
import { leaders, nodeName } from '../infra/cloud/cluster-chaos.ts'
import { controllerLoss, leaderLoss, nodeLoss, partition, seconds, waitAppsRunning, type ChaosContext } from '../infra/cloud/chaos-scenarios.ts'
import { publishComponent, s3FromEnv } from '../infra/components/publish.ts'
import { buildComponentIfChanged, sharedGuestCode } from '../workloads/build-component.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? '1,3,4,2').split(',').map((s) => s.trim())
const PARTITION_S = Number(process.env.BENCH_PARTITION_SECONDS ?? 60)
const HEAL_TIMEOUT_S = Number(process.env.BENCH_HEAL_TIMEOUT_SECONDS ?? 180)
if (SCENARIOS.some((s) => !['1', '2', '3', '4'].includes(s))) throw new Error(`BENCH_SCENARIOS: expected a list of 1 to 4, got ${process.env.BENCH_SCENARIOS}`)
if (!(PARTITION_S > 0) || !(HEAL_TIMEOUT_S > 0)) throw new Error('BENCH_PARTITION_SECONDS and BENCH_HEAL_TIMEOUT_SECONDS: expected positive numbers')

const started = Date.now()
const progress = (m: string) => process.stderr.write(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${m}\n`)
const rows: string[][] = []
const figure = (scenario: string, what: string, measured: string, bound: string, ok: boolean) => {
  rows.push([scenario, what, measured, bound, ok ? 'ok' : 'OVER'])
  process.stdout.write(`${scenario.padEnd(22)} ${what.padEnd(44)} ${measured.padStart(12)}   bound ${bound.padEnd(10)} ${ok ? 'ok' : 'OVER'}\n`)
}
const within = (ms: number | undefined, boundS: number) => ms !== undefined && ms <= boundS * 1000

const base = loadConfig({ ...process.env, LEAN_CLOUD_DATA_DIR: process.env.LEAN_CLOUD_DATA_DIR || path.join(repo, '.lean-cloud-chaos') })
const NODES = 3
const restore = async () => {
  progress('restoring the cluster (cloud:up)')
  await upCluster(base, NODES, () => {})
}

try {
  const { env } = await upCluster(base, NODES, progress)
  trustCaCertsFromEnv(env)
  const cluster = (await existingCluster(base))!
  const credentials = await loadOrCreateCredentials(base)
  const s3 = s3FromEnv(env, 'publisher')
  const digests: Record<string, string> = {}
  for (const name of ['pdf', 'email'] as const) {
    const built = await buildComponentIfChanged(name, undefined, [sharedGuestCode])
    await publishComponent(s3, built)
    digests[name] = built.sha256
  }
  const all = demoApps({ pdf: digests.pdf!, email: digests.email!, tinyImage: '0'.repeat(64) })
  const documents = { pdf: all.pdf, email: all.email }
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  for (const [name, doc] of Object.entries(documents)) await applyDocument(kv, base.controller.appsPrefix, name, JSON.stringify(doc))
  const ctx: ChaosContext = { cluster, credentials, env, apps: { pdf: 6, email: 3 }, progress, timeoutMs: HEAL_TIMEOUT_S * 1000 }
  progress('waiting for the demo apps (6 PDF services, 3 email workers) on 3 nodes')
  await waitAppsRunning({ ...ctx, timeoutMs: 900_000 })
  process.stdout.write(`\nbench:chaos, ${NODES} nodes on one machine, the demo's wasm apps (pdf ×6 spread, email ×3)\n\n`)

  for (const scenario of SCENARIOS) {
    const lead = await leaders(cluster, ctx)
    // A node that leads neither Nomad nor Consul, for the faults that are not about leaders.
    const plain = cluster.nodes.find((n) => nodeName(n) !== lead.nomad && nodeName(n) !== lead.consul) ?? cluster.nodes[2]!
    const other = cluster.nodes.find((n) => n !== plain)!
    if (scenario === '1') {
      const r = await nodeLoss(ctx, plain, other)
      const name = `1 node ${r.victim} killed`
      figure(name, `processes killed`, String(r.processesKilled), '-', r.processesKilled > 0)
      figure(name, 'allocations replaced on the others', seconds(r.replacedMs), '30 s', within(r.replacedMs, 30))
      figure(name, "DNS dropped the node's instances", seconds(r.dnsDroppedMs), '30 s', within(r.dnsDroppedMs, 30))
      figure(name, 'every app running again', seconds(r.runningMs), '30 s', within(r.runningMs, 30))
      figure(name, `requests failed (of ${r.requests}) via ${nodeName(other)}`, String(r.failed.length), '0', r.failed.length === 0)
      const lost = r.lost ?? { rows: 0, objects: 0 }
      figure(name, 'PDFs lost (row / object)', `${lost.rows} / ${lost.objects}`, '0 / 0', lost.rows + lost.objects === 0)
      for (const f of r.failed.slice(0, 5)) progress(`  failed: ${f}`)
      for (const line of r.trace ?? []) progress(`  scheduler: ${line}`)
      await restore()
      await waitAppsRunning(ctx)
    } else if (scenario === '2') {
      // Nomad's leader's node; then, when Consul's led elsewhere, Consul's leader's node too.
      for (const which of ['nomad', 'consul'] as const) {
        const r = await leaderLoss(ctx, which)
        const name = `2 leaders' node ${r.victim}`
        if (r.heldNomad) figure(name, 'new Nomad leader', seconds(r.nomadLeaderMs), '10 s', within(r.nomadLeaderMs, 10))
        if (r.heldConsul) figure(name, 'new Consul leader', seconds(r.consulLeaderMs), '10 s', within(r.consulLeaderMs, 10))
        figure(name, 'jobs lost', String(r.jobsLost.length), '0', r.jobsLost.length === 0)
        figure(name, 'KV keys lost', String(r.keysLost.length), '0', r.keysLost.length === 0)
        await restore()
        await waitAppsRunning(ctx)
        if (r.heldConsul) break
      }
    } else if (scenario === '3') {
      const r = await controllerLoss(ctx, 'email', documents.email, 2)
      const name = `3 controller on ${r.victim}`
      figure(name, `another leads (${r.newLeader ?? 'none'})`, seconds(r.newLeaderMs), '15 s', within(r.newLeaderMs, 15))
      figure(name, 'a change made meanwhile carried out', seconds(r.convergedMs), '-', r.convergedMs !== undefined)
      await applyDocument(new ConsulKv(`https://${other.host}:${other.consul.httpPort}`, env.CONSUL_HTTP_TOKEN), base.controller.appsPrefix, 'email', JSON.stringify(documents.email))
      await restore()
      await waitAppsRunning(ctx)
    } else {
      const r = await partition(ctx, plain, PARTITION_S * 1000)
      const name = `4 ${r.victim} cut off ${PARTITION_S} s`
      for (const [app, { peak, declared }] of Object.entries(r.peakAfterHeal))
        figure(name, `${app}: most allocations after healing`, String(peak), `< ${2 * declared}`, peak < 2 * declared)
      figure(name, 'status converged after healing', seconds(r.convergedMs), '-', r.convergedMs !== undefined)
      figure(name, 'stale wasm hosts on the node stopped', seconds(r.orphansGoneMs), '-', r.orphansGoneMs !== undefined)
      figure(name, 'orphaned wasm hosts left on the node', String(r.orphans), '0', r.orphans === 0)
      await waitAppsRunning(ctx)
    }
  }
  const over = rows.filter((r) => r[4] !== 'ok')
  process.stdout.write(`\n${rows.length} figures, ${over.length} over their bound${over.length ? `: ${over.map((r) => `${r[0]}: ${r[1]}`).join('; ')}` : ''}\n`)
} finally {
  if (process.env.BENCH_KEEP === '1') progress(`left the cluster up (data dir ${base.dataDir}); npm run cloud:down with LEAN_CLOUD_DATA_DIR=${base.dataDir} removes it`)
  else {
    const cluster = await existingCluster(base)
    if (cluster) await downCluster(base, cluster, progress)
  }
}
