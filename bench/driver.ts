// bench:driver — the hello component as a task of the wasm driver (started
// exactly as StartTask starts it: launchTask), measured in one run against
//   - `wasmtime serve` of the same component with instance reuse (the best
//     runtime for it: the driver should add at most 10%), and
//   - the same handler as a plain Node http server,
// all loaded by wrk with the same command. Then: cold start (StartTask to the
// first 200, warm compile cache), memory per warm instance with 1,000 warm
// instances in one task, and whether a task that served traffic gives its
// memory back after idling.
// Knobs: BENCH_SECONDS (10 per side and round), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16), BENCH_INSTANCES (1000),
// BENCH_IDLE_SECONDS (60), BENCH_SERVE_INSTANCES (instances of the task under load;
// default one per core: hello computes and never waits, so more instances than
// cores only take turns on them and lose cache locality; measured on 2 cores:
// 1 → 5.5k, 2 → 12.5k, 4 → 9.4k, 16 → 6.4k req/s).
// Last, unless BENCH_RUST=0: the Rust hello example as a Nomad job of the driver
// on the tests' cloud against `wasmtime serve`, with RSS after load (bench/rust-vs-serve.ts,
// which names its own knobs and also runs alone).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { resolveBinaries } from '../infra/cloud/binaries.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { freePort } from '../infra/cloud/free-port.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { launchTask, type LaunchedTask } from '../task-driver/wasm/launch-task.ts'
import { sampleProcessTree } from '../ground/proc-stats.ts'
import type { RunnerSpec } from '../task-driver/wasm/runner-spec.ts'
import { parseTaskConfig } from '../task-driver/wasm/task-config.ts'
import { buildComponent } from '../workloads/build-component.ts'
import { medianByRate, runLoad, type LoadResult } from './load.ts'
import { benchRustVsServe, optionsFromEnv } from './rust-vs-serve.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16)
const manyInstances = Number(process.env.BENCH_INSTANCES ?? 1000)
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 60)
const serveInstances = Number(process.env.BENCH_SERVE_INSTANCES ?? availableParallelism())
const benchRounds = Number(process.env.BENCH_ROUNDS ?? 3)
const here = path.dirname(fileURLToPath(import.meta.url))

const { 'wasm-host': wasmtimeHost, 'wasmtime-cli': wasmtimeCli } = await resolveBinaries(loadConfig(), ['wasm-host', 'wasmtime-cli'])
const silent = pino({ level: 'silent' })
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Task extends LaunchedTask {
  readonly port: number
  readonly stateDir: string
}

async function startTask(component: { file: string; sha256: string }, instances: number, cacheDir: string): Promise<Task> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'bench-task-'))
  const port = await freePort()
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
    wasmtimeHost: wasmtimeHost!,
  }
  const launched = await launchTask(spec, '/dev/null', '/dev/null', silent)
  return { ...launched, port, stateDir }
}

async function stopTask(task: Task): Promise<void> {
  await task.handle.stop('SIGTERM', 10_000)
  await task.capabilities?.close()
  await rm(task.stateDir, { recursive: true, force: true })
}

async function firstOk(port: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200, { timeoutMs, intervalMs: 1, what: `a 200 from port ${port}` })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

const rssOf = async (pid: number) => (await sampleProcessTree(pid))?.rssBytes ?? 0

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50Ms.toFixed(2).padStart(7)} ms   p99 ${r.p99Ms.toFixed(2).padStart(7)} ms   errors ${r.errors}`
}

const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED')

const hello = await buildComponent('hello')
const cacheDir = await mkdtemp(path.join(tmpdir(), 'bench-cache-'))
const load = (port: number) => runLoad(`http://127.0.0.1:${port}/`, { connections, durationMs: seconds * 1000 })
console.log(`bench:driver  hello component (${(hello.bytes / 2 ** 20).toFixed(1)} MiB), wrk ${seconds}s per side in ${benchRounds} rounds (median shown), ${connections} connections, 1 wrk thread, Node ${process.versions.node}`)

// 1. Throughput and latency: plain Node, `wasmtime serve`, the driver's task,
// all serving at once and loaded in turns, round after round (the median
// round counts), so drift in the machine's load hits every side alike.
const native = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'native-hello.ts'), String(await freePort())], { stdio: ['ignore', 'pipe', 'inherit'] })
const nativePort = Number(await new Promise<string>((resolve) => native.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))))

// The peer: wasmtime's own server, precompiled like our cache does, reusing instances.
const cwasm = path.join(cacheDir, 'hello.cwasm')
await new Promise<void>((resolve, reject) => {
  const c = spawn(wasmtimeCli!, ['compile', hello.file, '-o', cwasm], { stdio: 'inherit' })
  c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`wasmtime compile exited with ${code}`))))
})
const servePort = await freePort()
const serve = spawn(
  wasmtimeCli!,
  ['serve', '--addr', `127.0.0.1:${servePort}`, '-S', 'cli', '-O', 'pooling-allocator', '--max-instance-reuse-count', '1000', '--allow-precompiled', cwasm],
  { stdio: ['ignore', 'ignore', 'inherit'] },
)
await firstOk(servePort)
const task = await startTask(hello, serveInstances, cacheDir)
await firstOk(task.port)

const rounds: Record<'native' | 'serve' | 'driver', LoadResult[]> = { native: [], serve: [], driver: [] }
for (let round = 0; round < benchRounds; round++) {
  rounds.native.push(await load(nativePort))
  rounds.serve.push(await load(servePort))
  rounds.driver.push(await load(task.port))
}
await stopChild(native)
await stopChild(serve)
await stopTask(task)
const nativeResult = medianByRate(rounds.native)
const serveResult = medianByRate(rounds.serve)
const driverResult = medianByRate(rounds.driver)

const all = (results: LoadResult[]) => results.map((r) => r.rps.toFixed(0)).join(', ')
console.log(`req/s by round: plain Node ${all(rounds.native)}; wasmtime serve ${all(rounds.serve)}; driver ${all(rounds.driver)}`)
console.log(row('plain Node http', nativeResult))
console.log(row('wasmtime serve (instance reuse)', serveResult))
console.log(row(`wasm driver task, ${serveInstances} instances`, driverResult))
const vsServe = driverResult.rps / serveResult.rps
const vsNode = driverResult.rps / nativeResult.rps
console.log(`ratio driver / wasmtime serve      ${vsServe.toFixed(3)}x req/s (target >= 0.9x: ${verdict(vsServe >= 0.9)})`)
console.log(`ratio driver / plain Node          ${vsNode.toFixed(3)}x req/s (target >= 0.1x: ${verdict(vsNode >= 0.1)}); wasmtime serve / plain Node ${(serveResult.rps / nativeResult.rps).toFixed(3)}x`)

// 2. Cold start: StartTask's work (launchTask) to the first 200, warm compile cache.
const starts: number[] = []
for (let i = 0; i < 11; i++) {
  const began = performance.now()
  const t = await startTask(hello, 1, cacheDir)
  await firstOk(t.port)
  if (i > 0) starts.push(performance.now() - began) // the first start fills the compile cache
  await stopTask(t)
}
const p50 = median(starts)
console.log(`cold start to first 200            p50 ${p50.toFixed(0)} ms, min ${Math.min(...starts).toFixed(0)} ms, max ${Math.max(...starts).toFixed(0)} ms over ${starts.length} starts (target p50 <= 100 ms: ${verdict(p50 <= 100)})`)

// 3. Memory per warm instance: a task with 1 instance against one with N, both warm and idle.
const one = await startTask(hello, 1, cacheDir)
await firstOk(one.port)
await delay(1000)
const rssOne = await rssOf(one.handle.state.pid)
await stopTask(one)
const many = await startTask(hello, manyInstances, cacheDir)
await firstOk(many.port, 300_000)
await delay(1000)
const rssMany = await rssOf(many.handle.state.pid)
await stopTask(many)
const perInstance = (rssMany - rssOne) / (manyInstances - 1)
console.log(
  `memory: a task with 1 warm instance ${mib(rssOne)}, with ${manyInstances} ${mib(rssMany)} -> ${(perInstance / 1024).toFixed(0)} KiB per warm instance (target <= 5 MiB: ${verdict(perInstance <= 5 * 2 ** 20)})`,
)

// 4. Memory after traffic: warm-idle, under load, then after idling.
const busy = await startTask(hello, serveInstances, cacheDir)
await firstOk(busy.port)
await delay(1000)
const warmIdle = await rssOf(busy.handle.state.pid)
await load(busy.port)
const afterLoad = await rssOf(busy.handle.state.pid)
await delay(idleSeconds * 1000)
const afterIdle = await rssOf(busy.handle.state.pid)
await stopTask(busy)
const back = afterIdle / warmIdle
console.log(
  `memory after traffic (${serveInstances} instances): warm-idle ${mib(warmIdle)}, after load ${mib(afterLoad)}, after ${idleSeconds} s idle ${mib(afterIdle)} = ${back.toFixed(2)}x warm-idle (target <= 1.10x: ${verdict(back <= 1.1)})`,
)
await rm(cacheDir, { recursive: true, force: true })

// 5. The Rust hello example through the driver as a Nomad job, against `wasmtime serve`.
if (process.env.BENCH_RUST !== '0') await benchRustVsServe(optionsFromEnv(wasmtimeCli!))
