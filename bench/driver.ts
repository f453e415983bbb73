// bench:driver — the hello component through the wasm driver's runner versus
// the same handler as a plain Node http server, measured in one run:
//   requests/s and p99 (and their ratio), cold start to the first 200 with a
//   warm compile cache, and memory per idle instance.
// Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (16), BENCH_INSTANCES (16).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { resolveBinaries } from '../infra/cloud/binaries.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { sampleProcessTree } from '../task-driver/proc-stats.ts'
import { buildDriver, driverDist } from '../task-driver/build.ts'
import { parseTaskConfig } from '../task-driver/task-config.ts'
import { stateFile, writeJsonAtomic, type RunnerSpec } from '../task-driver/runner/runner-spec.ts'
import { helloComponent } from '../test/harness/components.ts'
import { runLoad, type LoadResult } from './load.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16)
const manyInstances = Number(process.env.BENCH_INSTANCES ?? 16)
const here = path.dirname(fileURLToPath(import.meta.url))
let nextPort = 24_100

/** RSS of the runner and the engine host it started. */
async function rssBytes(pid: number): Promise<number> {
  return (await sampleProcessTree(pid))?.rssBytes ?? 0
}

// The default engine's host, built (once) by the same script as the cloud's binaries.
const { 'wasm-host': wasmtimeHost } = await resolveBinaries(loadConfig(), ['wasm-host'])

interface Runner {
  readonly child: ChildProcess
  readonly port: number
  readonly spawnedAt: number
}

async function startRunner(component: { file: string; sha256: string }, instances: number, cacheDir: string): Promise<Runner> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'bench-runner-'))
  const port = nextPort++
  const spec: RunnerSpec = {
    taskId: `bench/${port}`,
    config: parseTaskConfig({ component: component.file, sha256: component.sha256, port: 'http', instances }),
    host: '127.0.0.1',
    port,
    cacheDir,
    stateDir,
    guestEnv: {},
    capabilities: {},
    capabilityToken: 'bench',
    ...(wasmtimeHost && { wasmtimeHost }),
  }
  await writeJsonAtomic(stateFile(stateDir, 'runner.json'), spec)
  const spawnedAt = performance.now()
  const child = spawn(process.execPath, [path.join(driverDist, 'runner.mjs'), stateFile(stateDir, 'runner.json')], { stdio: 'ignore' })
  return { child, port, spawnedAt }
}

async function firstOk(port: number): Promise<void> {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200, { timeoutMs: 60_000, intervalMs: 2, what: `runner on ${port}` })
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50Ms.toFixed(2).padStart(7)} ms   p99 ${r.p99Ms.toFixed(2).padStart(7)} ms   errors ${r.errors}`
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

await buildDriver()
const hello = await helloComponent()
const cacheDir = await mkdtemp(path.join(tmpdir(), 'bench-cache-'))
console.log(`bench:driver  ${seconds}s per side, ${connections} connections, Node ${process.versions.node}`)

// 1. Throughput and latency, driver runner (2 warm instances) vs plain Node.
const native = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'native-hello.ts'), String(nextPort++)], { stdio: ['ignore', 'pipe', 'inherit'] })
const nativePort = Number(await new Promise<string>((resolve) => native.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))))
const nativeResult = await runLoad(`http://127.0.0.1:${nativePort}/`, { connections, durationMs: seconds * 1000 })
await stop(native)

const runner = await startRunner(hello, 2, cacheDir)
await firstOk(runner.port)
const wasmResult = await runLoad(`http://127.0.0.1:${runner.port}/`, { connections, durationMs: seconds * 1000 })
await stop(runner.child)

console.log(row('plain Node http (baseline)', nativeResult))
console.log(row('wasm driver, 2 instances', wasmResult))
console.log(`ratio (driver / native)      ${(wasmResult.rps / nativeResult.rps).toFixed(3)}x req/s (target >= 0.5x), p99 ${(wasmResult.p99Ms / nativeResult.p99Ms).toFixed(1)}x`)

// 2. Cold start: process spawn (what StartTask does) to the first 200, warm compile cache.
const starts: number[] = []
for (let i = 0; i < 10; i++) {
  const r = await startRunner(hello, 1, cacheDir)
  await firstOk(r.port)
  starts.push(performance.now() - r.spawnedAt)
  await stop(r.child)
}
console.log(`cold start to first 200       p50 ${median(starts).toFixed(0)} ms, min ${Math.min(...starts).toFixed(0)} ms, max ${Math.max(...starts).toFixed(0)} ms over 10 starts (target p50 <= 100 ms)`)

// 3. Memory per idle instance: one runner with 1 instance vs one with N.
const one = await startRunner(hello, 1, cacheDir)
await firstOk(one.port)
await delay(2000)
const rssOne = await rssBytes(one.child.pid!)
await stop(one.child)
const many = await startRunner(hello, manyInstances, cacheDir)
await firstOk(many.port)
await delay(2000)
const rssMany = await rssBytes(many.child.pid!)
await stop(many.child)
const perInstance = (rssMany - rssOne) / (manyInstances - 1)
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
console.log(`memory: runner with 1 instance ${mib(rssOne)}, with ${manyInstances} ${mib(rssMany)} -> ${mib(perInstance)} per idle instance (target <= 5 MiB)`)
console.log(`        1,000 instances would need about ${(rssOne + perInstance * 999) / 2 ** 30 > 1 ? ((rssOne + perInstance * 999) / 2 ** 30).toFixed(1) + ' GiB' : mib(rssOne + perInstance * 999)} on this design`)
await rm(cacheDir, { recursive: true, force: true })
