// `npm run demo`: the whole product in one command. Brings the lean cloud up,
// builds and uploads the PDF and email components, starts the controller,
// declares the seeds' apps in Consul KV (6 PDF services, 3 email workers),
// waits until they run, and prints where to call them.
// `npm run demo:down` stops the controller and the cloud.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { AppStatus } from '../controller/app-status.ts'
import { applyDocument } from '../cli/commands/apply.ts'
import { trustCaCertsFromEnv } from '../controller/ca-trust.ts'
import { ConsulKv } from '../controller/consul-kv.ts'
import { buildComponentIfChanged, sharedGuestCode } from '../workloads/build-component.ts'
import { publishComponent, s3FromEnv } from '../infra/components/publish.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { down } from '../infra/cloud/down.ts'
import { up } from '../infra/cloud/up.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { ingressClient, waitForIngress, waitForRoute } from '../infra/cloud/ingress-client.ts'
import { INGRESS_JOB, ingressUrl } from '../jobs/ingress.ts'
import { DEMO_APPS, demoApps } from './demo-apps.ts'
import { imagePaths } from '../infra/images/paths.ts'
import { publishImage } from '../infra/images/publish.ts'
import { buildTiny } from '../infra/images/tiny.ts'
import { ensureController, stopController } from '../infra/cloud/controller-daemon.ts'
import { appMemory, consulHeaders, exercise, memoryLine, waitPassing } from './task-memory.ts'

const started = Date.now()
const progress = (m: string) => process.stderr.write(`[demo ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}\n`)
const APPS_PREFIX = 'lean-cloud/apps/'
const STATUS_PREFIX = 'lean-cloud/status/'

async function demoUp(): Promise<void> {
  const config = loadConfig()
  const { env } = await up(config, progress)
  // Consul and Nomad serve HTTPS with the cloud's CA (CONSUL_CACERT, NOMAD_CACERT).
  trustCaCertsFromEnv(env)
  const s3 = s3FromEnv(env, 'publisher')
  const digests: Record<string, string> = {}
  for (const name of ['pdf', 'email'] as const) {
    progress(`${name}: building the component (cached when its sources are unchanged)`)
    const built = await buildComponentIfChanged(name, undefined, [sharedGuestCode])
    const { key, uploaded } = await publishComponent(s3, built)
    progress(`${name}: ${uploaded ? 'uploaded to' : 'already in'} s3://artifacts/${key}`)
    digests[name] = built.sha256
  }
  progress('tiny VM image: building (cached when its inputs are unchanged) and uploading')
  const paths = imagePaths()
  const tiny = await buildTiny(paths, { rebuild: false, updatePins: false })
  const published = await publishImage(s3, paths, tiny)
  progress(`tiny VM image: sha256 ${tiny.sha256}, ${published.uploaded.length > 0 ? 'uploaded to' : 'already in'} s3://artifacts/images/`)
  const controller = await ensureController(config, env, progress)

  // The documents also land in the data dir, for `leanctl apply -f` and reading.
  const docsDir = path.join(config.dataDir, 'demo-apps')
  await mkdir(docsDir, { recursive: true })
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  for (const [name, doc] of Object.entries(demoApps({ pdf: digests.pdf!, email: digests.email!, tinyImage: tiny.sha256 }))) {
    const text = JSON.stringify(doc, null, 2)
    await writeFile(path.join(docsDir, `${name}.json`), `${text}\n`)
    const outcome = await applyDocument(kv, APPS_PREFIX, name, text)
    progress(`${name}: ${outcome === 'unchanged' ? 'declared already' : `declared (${outcome})`} in Consul KV at ${APPS_PREFIX}${name}`)
  }

  let last = ''
  await waitFor(async () => {
    const statuses = await Promise.all(DEMO_APPS.map(async (n) => {
      const entry = await kv.get(STATUS_PREFIX + n)
      return entry ? (JSON.parse(entry.value) as AppStatus) : undefined
    }))
    const line = statuses.map((s, i) => `${DEMO_APPS[i]} ${s ? `${s.phase} ${s.healthy}/${s.desired}` : 'pending'}`).join(', ')
    if (line !== last) progress(line)
    last = line
    const failed = statuses.find((s) => s?.phase === 'failed' || s?.phase === 'invalid')
    if (failed) throw Object.assign(new Error(`${failed.name}: ${failed.phase}: ${failed.lastError}`), { fatal: true })
    return statuses.every((s) => s?.phase === 'running')
  }, { timeoutMs: 600_000, intervalMs: 500, what: 'the demo apps to run', isFatal: (err) => (err as { fatal?: boolean }).fatal === true })

  const pdfPort = await servicePort(env, 'pdf')
  const vmPort = await servicePort(env, 'hello-vm')
  // The cloud's ingress (cloud:up keeps it): one address per app that asks for it.
  const ingressPort = Number(env.INGRESS_ADDR!.split(':').pop())
  progress(`ingress: waiting for pdf and hello-vm at *.lean.localhost:${ingressPort}`)
  await waitForIngress(ingressPort)
  const ingress = ingressClient(ingressPort)
  try {
    await waitForRoute(ingress, 'pdf', 200)
    await waitForRoute(ingress, 'hello-vm', 200, '/')
  } finally {
    ingress.close()
  }
  // Every instance serves a little, then the tasks are weighed (after a pause, so the stats are fresh).
  await waitPassing(env, 'pdf', 6)
  await waitPassing(env, 'email', 3)
  const pdfsMade = await exercise(env, 'pdf', 2, {
    path: '/',
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Hello from the lean cloud demo' }) },
  })
  await exercise(env, 'email', 2, { path: '/health' })
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const memory = memoryLine(await Promise.all(['pdf', 'email'].map((app) => appMemory(env, app))))
  progress(`made ${pdfsMade} PDFs across the PDF instances; ${memory}`)
  const pdfUrl = ingressUrl('pdf', ingressPort)
  process.stdout.write(
    [
      '',
      'The lean cloud runs the demo apps (6 PDF services, 3 email workers, 1 VM):',
      `  Nomad UI       ${env.NOMAD_ADDR}/ui/jobs?namespace=${env.NOMAD_NAMESPACE}   (the apps; the ingress is job ${INGRESS_JOB} in namespace ${config.nomad.systemNamespace}; sign in with NOMAD_TOKEN from cloud.env)`,
      `  Consul UI      ${env.CONSUL_HTTP_ADDR}/ui/   (log in with CONSUL_HTTP_TOKEN from cloud.env)`,
      `  TLS            the browser trusts the UIs once it trusts the cloud's CA ${env.CONSUL_CACERT} (docs/local-cloud.md: TLS)`,
      `  Controller     ${controller.url}/v1/apps   (metrics ${controller.url}/metrics, log ${controller.logFile})`,
      `  VM             curl -s ${ingressUrl('hello-vm', ingressPort)}   (its console: npm run leanctl -- vm get hello-vm)`,
      `  VM API         ${controller.url}/v1/vms, ${controller.url}/v1/images   (npm run leanctl -- vm list)`,
      `  App documents  ${docsDir}/{pdf,email,hello-vm}.json   (change them with: npm run leanctl -- apply -f <file> --name <app>)`,
      `  Memory         ${memory}`,
      `  One instance   pdf.service.consul: dig @${env.CONSUL_DNS_ADDR?.replace(/:(\d+)$/, ' -p $1')} pdf.service.consul SRV   (e.g. http://127.0.0.1:${pdfPort}/; the VM: http://127.0.0.1:${vmPort}/)`,
      `  The PDF service, through the ingress (${env.INGRESS_ADDR}; HAProxy in front of the passing instances):`,
      '',
      `curl -s -H 'content-type: application/json' -d '{"text":"Hello"}' ${pdfUrl}`,
      '',
      `  Its answer's url is a presigned HTTPS link into S3: curl --cacert ${env.S3_CACERT} -o hello.pdf '<url>'`,
      '',
    ].join('\n'),
  )
}

/** The port of one instance of `service` whose Consul checks pass (they pass a few seconds after the allocation runs). */
async function servicePort(env: Readonly<Record<string, string>>, service: string): Promise<number> {
  return waitFor(
    async () => {
      const res = await fetch(`${env.CONSUL_HTTP_ADDR}/v1/health/service/${service}?passing=true`, { headers: consulHeaders(env) })
      const entries = (await res.json()) as Array<{ Service: { Port: number } }>
      return entries[0]?.Service.Port
    },
    { timeoutMs: 120_000, intervalMs: 500, what: `a passing ${service} instance in Consul` },
  )
}

async function demoDown(): Promise<void> {
  const config = loadConfig()
  await stopController(config, progress)
  await down(config, progress)
}

const command = process.argv[2] ?? 'up'
try {
  await (command === 'down' ? demoDown() : demoUp())
} catch (err) {
  progress(`failed: ${(err as Error).message}`)
  process.exitCode = 1
}
