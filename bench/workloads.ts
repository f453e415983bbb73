// bench:workloads — the PDF service (1 KB of text per request, no email)
// as a wasm driver task (started as StartTask starts it) versus the same handler as a plain Node
// fastify service, in one run, against the same real S3 and PostgreSQL.
// Both sides do the whole request: validate, render, store, log, presign.
// Load: wrk, the same command on both sides.
// Both serve at once and are loaded in turns for BENCH_ROUNDS rounds; the median counts.
// In the same run and rounds: the same component as one Nomad allocation, called
// directly on its port and through the cloud's ingress (HAProxy, jobs/ingress.ts),
// with the PDF request and with GET /health (which shows the proxy's own cost).
// Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (8), BENCH_INSTANCES (4, the job's default),
// BENCH_SCRIPT (latin; or arabic, hebrew, chinese, devanagari: text that is shaped and set in the bundled fonts).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { s3AccessFromEnv } from '../ground/s3-client.ts'
import { resolveBinaries } from '../infra/cloud/binaries.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { freePort } from '../infra/cloud/free-port.ts'
import { waitFor } from '../infra/cloud/wait.ts'

// Kernel-chosen ports: never inside a cloud's Nomad port range, where running tasks listen.
const WASM_PORT = await freePort()
const NODE_PORT = await freePort()
import { renderWasmServiceJob } from '../jobs/wasm-service.ts'
import { pdfServiceSpec } from '../jobs/workloads.ts'
import pino from 'pino'
import { launchTask } from '../task-driver/wasm/launch-task.ts'
import { parseTaskConfig } from '../task-driver/wasm/task-config.ts'
import type { RunnerSpec } from '../task-driver/wasm/runner-spec.ts'
import { useCloud } from '../test/harness/cloud.ts'
import { pdfComponent } from '../test/harness/components.ts'
import { startIngressTarget } from './ingress-target.ts'
import { medianByRate, runLoad, type LoadResult } from './load.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 8)
const instances = Number(process.env.BENCH_INSTANCES ?? 4)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// About 1 KB of ordinary prose (UTF-8), as JSON. BENCH_SCRIPT picks the script:
// latin (Helvetica, no shaping) or one that goes through bidi, shaping and the bundled fonts.
const prose: Record<string, string> = {
  latin: 'The quick brown fox jumps over the lazy dog while the invoice totals are checked twice.',
  arabic: 'تم فحص مجموع الفاتورة مرتين قبل إرسال المستند إلى العميل.',
  hebrew: 'סכום החשבונית נבדק פעמיים, 123 פריטים, לפני שהמסמך נשלח ללקוח.',
  chinese: '发票总额在文件发送给客户之前检查了两次。',
  devanagari: 'ग्राहक को दस्तावेज़ भेजने से पहले चालान की कुल राशि दो बार जाँची गई।',
}
const script = process.env.BENCH_SCRIPT ?? 'latin'
const words = prose[script]
if (!words) throw new Error(`BENCH_SCRIPT: expected one of ${Object.keys(prose).join(', ')}, got ${script}`)
let text = words
while (Buffer.byteLength(text) < 1024) text += ` ${words}`
const body = { contentType: 'application/json', data: Buffer.from(JSON.stringify({ text })) }

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.rps.toFixed(1).padStart(8)} req/s   p50 ${r.p50Ms.toFixed(1).padStart(7)} ms   p99 ${r.p99Ms.toFixed(1).padStart(7)} ms   errors ${r.errors}`
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

async function untilServing(url: string, exited: () => boolean): Promise<void> {
  await waitFor(
    async () => {
      if (exited()) throw new Error(`${url}: the process exited`)
      const res = await fetch(url, { method: 'POST', body: body.data, headers: { 'content-type': body.contentType } }).catch(() => undefined)
      if (res && res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`)
      return res?.status === 200
    },
    { timeoutMs: 120_000, intervalMs: 100, what: `${url} to serve`, isFatal: () => true },
  )
}

const { config: cloud, env } = await useCloud()
const pdf = await pdfComponent()
console.log(`bench:workloads  ${seconds}s per side in ${rounds} rounds (median shown), ${connections} connections, 1 KB ${script} text (${body.data.length} bytes JSON), Node ${process.versions.node}`)

// Baseline: the plain Node twin, one process.
const twin = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'infra/node-twin.ts'), 'pdf', '--port', String(NODE_PORT)], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, ...env },
})
await untilServing(`http://127.0.0.1:${NODE_PORT}/`, () => twin.exitCode !== null)

// The component as a driver task, configured exactly as the pdf job configures it.
const task = renderWasmServiceJob(pdfServiceSpec({ sha256: pdf.sha256, port: 'dynamic', instances })).TaskGroups[0]!.Tasks[0]!
const stateDir = await mkdtemp(path.join(tmpdir(), 'bench-pdf-'))
const cacheDir = await mkdtemp(path.join(tmpdir(), 'bench-pdf-cache-'))
const spec: RunnerSpec = {
  taskId: 'bench/pdf',
  config: parseTaskConfig({ ...(task.Config as Record<string, unknown>), component: pdf.file }),
  host: '127.0.0.1',
  port: WASM_PORT,
  cacheDir,
  stateDir,
  guestEnv: { PDF_BUCKET: 'cloud-pdfs' },
  capabilities: {
    // The bench holds only the admin key; the cloud's drivers hold one identity per bucket.
    buckets: { 'cloud-pdfs': s3AccessFromEnv(env, env.S3_ACCESS_KEY!, env.S3_SECRET_KEY!) },
    databaseUrl: env.DATABASE_WRITER_URL!,
    consulDns: env.CONSUL_DNS_ADDR!,
  },
  capabilityToken: 'bench-token',
  // The wasmtime host, built (once) by the same script as the cloud's binaries.
  wasmtimeHost: (await resolveBinaries(loadConfig(), ['wasm-host']))['wasm-host']!,
}
const launched = await launchTask(spec, '/dev/null', '/dev/null', pino({ level: 'warn' }))
await untilServing(`http://127.0.0.1:${WASM_PORT}/`, () => launched.handle.exited !== undefined)

// The same component as one allocation of a Nomad job that asks for the ingress.
const target = await startIngressTarget(env, cloud.ingress.port, pdf, instances)

// Both serve at once and are loaded in turns, round after round (the median
// round counts), so drift in the machine's load hits both sides alike.
const nodeRounds: LoadResult[] = []
const wasmRounds: LoadResult[] = []
const directRounds: LoadResult[] = []
const ingressRounds: LoadResult[] = []
const directHealthRounds: LoadResult[] = []
const ingressHealthRounds: LoadResult[] = []
try {
  for (let round = 0; round < rounds; round++) {
    nodeRounds.push(await runLoad(`http://127.0.0.1:${NODE_PORT}/`, { connections, durationMs: seconds * 1000, body }))
    wasmRounds.push(await runLoad(`http://127.0.0.1:${WASM_PORT}/`, { connections, durationMs: seconds * 1000, body }))
    directRounds.push(await runLoad(target.direct, { connections, durationMs: seconds * 1000, body }))
    ingressRounds.push(await runLoad(target.ingress, { connections, durationMs: seconds * 1000, body, headers: target.headers }))
    directHealthRounds.push(await runLoad(`${target.direct}health`, { connections, durationMs: seconds * 1000 }))
    ingressHealthRounds.push(await runLoad(`${target.ingress}health`, { connections, durationMs: seconds * 1000, headers: target.headers }))
  }
} finally {
  await target.stop()
  await stop(twin)
  await launched.handle.stop('SIGTERM', 10_000)
  await launched.capabilities?.close()
  await rm(stateDir, { recursive: true, force: true })
  await rm(cacheDir, { recursive: true, force: true })
}
const nodeResult = medianByRate(nodeRounds)
const wasmResult = medianByRate(wasmRounds)
console.log(`req/s by round: plain Node ${nodeRounds.map((r) => r.rps.toFixed(1)).join(', ')}; wasm ${wasmRounds.map((r) => r.rps.toFixed(1)).join(', ')}`)
console.log(row('plain Node fastify (baseline)', nodeResult))
console.log(row(`wasm driver, ${instances} instance(s)`, wasmResult))
console.log(`ratio (wasm / plain Node)          ${(wasmResult.rps / nodeResult.rps).toFixed(3)}x req/s (target >= 0.25x), p50 ${(wasmResult.p50Ms / nodeResult.p50Ms).toFixed(1)}x`)
for (const [what, direct, ingress] of [
  ['PDF', directRounds, ingressRounds],
  ['GET /health', directHealthRounds, ingressHealthRounds],
] as const) {
  const d = medianByRate(direct)
  const i = medianByRate(ingress)
  console.log(`${what}, req/s by round: one allocation direct ${direct.map((r) => r.rps.toFixed(1)).join(', ')}; through the ingress ${ingress.map((r) => r.rps.toFixed(1)).join(', ')}`)
  console.log(row(`${what} direct (one allocation)`, d))
  console.log(row(`${what} through the ingress`, i))
  console.log(`ratio (ingress / direct)`.padEnd(34) + ` ${(i.rps / d.rps).toFixed(3)}x req/s, p50 ${i.p50Ms >= d.p50Ms ? '+' : ''}${(i.p50Ms - d.p50Ms).toFixed(1)} ms`)
}
