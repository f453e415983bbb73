// bench:driver, last part: the Rust hello example (examples/rust-hello, built by
// cargo for wasm32-wasip2) as a Nomad job of the wasm driver on the tests' cloud,
// against `wasmtime serve` (the wasmtime CLI of the engine's wasmtime release,
// infra/build-binaries.sh wasmtime-cli) of the same file on a free loopback
// port, in a cgroup with the task's CPU share and memory cap (made by the
// driver's own cgroup code). Both serve at once and are loaded in turns by wrk with the same command
// (connections, duration, rounds; the median round counts); each side's RSS is
// read right after its load: the driver task's from Nomad's task stats and from
// /proc of the task's host process (with its children), wasmtime serve's from /proc.
// The job and the serve process go again on the way out, also on SIGINT/SIGTERM.
// Runs with bench:driver, or alone: `tsx bench/rust-vs-serve.ts`.
// Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16), and
// BENCH_RUST_INSTANCES (instances of the driver task; default one per core),
// BENCH_RUST_CPU (the job's CPU reservation in MHz, which becomes the task's CPU
// share, and wasmtime serve's; default 1000), BENCH_SERVE_MAX_REQUESTS (wasmtime serve's
// --max-concurrent-requests; unset: no cap, its default).
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { NomadApi } from '../controller/nomad-api.ts'
import { sampleProcessTree } from '../ground/proc-stats.ts'
import { buildRustHello } from '../infra/components/other-toolchains.ts'
import {
  createTaskCgroup,
  DEFAULT_TASK_PIDS_MAX,
  detectCgroupLayout,
  joinCommand,
  removeTaskCgroup,
} from '../task-driver/wasm/task-cgroup.ts'
import { resolveBinaries } from '../infra/cloud/binaries.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { freePort } from '../infra/cloud/free-port.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { renderWasmServiceJob } from '../jobs/wasm-service.ts'
import { useCloud } from '../test/harness/cloud.ts'
import { uniqueName } from '../test/harness/names.ts'
import { nomad } from '../test/harness/nomad-http.ts'
import { allocAddress, taskProcessPids, waitForAllocs } from '../test/harness/wasm-job.ts'
import { medianByRate, runLoad, type LoadResult } from './load.ts'

export interface RustVsServeOptions {
  readonly wasmtimeCli: string
  readonly seconds: number
  readonly rounds: number
  readonly connections: number
  readonly instances: number
  readonly cpuMHz: number
  readonly serveMaxRequests?: number
}

export function optionsFromEnv(wasmtimeCli: string): RustVsServeOptions {
  const env = process.env
  return {
    wasmtimeCli,
    seconds: Number(env.BENCH_SECONDS ?? 10),
    rounds: Number(env.BENCH_ROUNDS ?? 3),
    connections: Number(env.BENCH_CONNECTIONS ?? 16),
    instances: Number(env.BENCH_RUST_INSTANCES ?? availableParallelism()),
    cpuMHz: Number(env.BENCH_RUST_CPU ?? 1000),
    ...(env.BENCH_SERVE_MAX_REQUESTS && { serveMaxRequests: Number(env.BENCH_SERVE_MAX_REQUESTS) }),
  }
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const mib = (b: number | undefined) => (b === undefined ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`)
const say = (line: string) => console.log(line)

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50Ms.toFixed(2).padStart(7)} ms   p99 ${r.p99Ms.toFixed(2).padStart(7)} ms   errors ${r.errors}`
}

/** Undo steps run once, newest first, on the way out or on SIGINT/SIGTERM. */
class Cleanup {
  readonly #steps: Array<() => Promise<unknown>> = []
  readonly #onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench:driver: ${signal}, removing what the Rust comparison started\n`)
    void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }

  constructor() {
    process.once('SIGINT', this.#onSignal)
    process.once('SIGTERM', this.#onSignal)
  }

  add(step: () => Promise<unknown>): void {
    this.#steps.push(step)
  }

  async run(): Promise<void> {
    process.off('SIGINT', this.#onSignal)
    process.off('SIGTERM', this.#onSignal)
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      await step().catch((err: unknown) =>
        process.stderr.write(`bench:driver: cleanup: ${err instanceof Error ? err.message : String(err)}\n`),
      )
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function firstOk(base: string, exited: () => boolean): Promise<void> {
  await waitFor(
    async () => {
      if (exited()) throw new Error(`${base}: the server exited`)
      return (await fetch(base)).status === 200
    },
    {
      timeoutMs: 120_000,
      intervalMs: 50,
      what: `a 200 from ${base}`,
      isFatal: (err) => err instanceof Error && err.message.endsWith('exited'),
    },
  )
}

/** RSS of the allocation's task as Nomad's client reports it (sampled about every second). */
async function nomadRss(addr: string, allocId: string): Promise<number | undefined> {
  const stats = await nomad<{ ResourceUsage?: { MemoryStats?: { RSS?: number } } }>(
    addr,
    'GET',
    `/v1/client/allocation/${allocId}/stats`,
  ).catch(() => undefined)
  return stats?.ResourceUsage?.MemoryStats?.RSS || undefined
}

async function procRss(pids: readonly number[]): Promise<number | undefined> {
  const samples = await Promise.all(pids.map((pid) => sampleProcessTree(pid)))
  return samples.some(Boolean) ? samples.reduce((sum, s) => sum + (s?.rssBytes ?? 0), 0) : undefined
}

/** The driver job and `wasmtime serve` of the Rust hello, loaded in turns; prints the figures. */
export async function benchRustVsServe(o: RustVsServeOptions): Promise<void> {
  const cleanup = new Cleanup()
  try {
    await run(o, cleanup)
  } finally {
    await cleanup.run()
  }
}

async function run(o: RustVsServeOptions, cleanup: Cleanup): Promise<void> {
  const built = await buildRustHello((line) => process.stderr.write(`[rust-hello] ${line}\n`))
  const { env } = await useCloud()
  const bytes = (await stat(built.file)).size
  say(
    `Rust hello (examples/rust-hello, ${(bytes / 1024).toFixed(0)} KiB): driver job (${o.instances} instances, ${o.cpuMHz} MHz) vs wasmtime serve, ` +
      `wrk ${o.seconds}s per side in ${o.rounds} rounds (median shown), ${o.connections} connections, 1 wrk thread`,
  )

  // The wasm plugin takes local files only under workloads/dist (its component_paths).
  const onNode = path.join(repo, 'workloads', 'dist', 'examples', `${built.sha256}.wasm`)
  await mkdir(path.dirname(onNode), { recursive: true })
  await copyFile(built.file, onNode)

  // The driver side: a job as `leanctl apply` renders it, with one allocation.
  // Each instance may grow to the default 128 MiB; the task's memory holds them all.
  const memoryMB = Math.max(256, o.instances * 128)
  const api = new NomadApi(env.NOMAD_ADDR!, env.NOMAD_TOKEN, env.NOMAD_NAMESPACE)
  const name = uniqueName('bench-rust-hello')
  const job = renderWasmServiceJob({
    name,
    component: { sha256: built.sha256, source: onNode },
    count: 1,
    port: 'dynamic',
    service: { name, checkPath: '/' },
    instances: o.instances,
    resources: { cpu: o.cpuMHz, memoryMB },
  })
  await api.register(job, 0)
  cleanup.add(() => api.deregister(name))

  // The peer: wasmtime's own server, precompiled as the driver's compile cache does, reusing
  // instances up to the engine's max_reuse (1000).
  const scratch = await mkdtemp(path.join(tmpdir(), 'bench-rust-serve-'))
  cleanup.add(() => rm(scratch, { recursive: true, force: true }))
  const cwasm = path.join(scratch, 'rust-hello.cwasm')
  await new Promise<void>((resolve, reject) => {
    const c = spawn(o.wasmtimeCli, ['compile', built.file, '-o', cwasm], { stdio: 'inherit' })
    c.once('error', reject)
    c.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`wasmtime compile exited with ${code}`)),
    )
  })
  const servePort = await freePort()
  const cap = o.serveMaxRequests ? ['--max-concurrent-requests', String(o.serveMaxRequests)] : []
  const serveArgs = [
    'serve',
    '--addr',
    `127.0.0.1:${servePort}`,
    '-S',
    'cli',
    '-O',
    'pooling-allocator',
    '--max-instance-reuse-count',
    '1000',
    ...cap,
    '--allow-precompiled',
    cwasm,
  ]
  // In a cgroup like the task's (the driver's own code makes it): the same CPU share and memory
  // cap, so that under contention with wrk neither side gets more of the cores than the other.
  const layout = await detectCgroupLayout()
  let command = { command: o.wasmtimeCli, args: serveArgs }
  if (layout) {
    const cgroup = await createTaskCgroup(layout, `bench.serve-${servePort}`, {
      memoryBytes: memoryMB * 2 ** 20,
      cpuShares: o.cpuMHz,
      pidsMax: DEFAULT_TASK_PIDS_MAX,
    })
    cleanup.add(() => removeTaskCgroup(cgroup))
    command = joinCommand(cgroup, o.wasmtimeCli, serveArgs)
  } else {
    say(
      "no cgroup memory, cpu and pids controllers here: wasmtime serve runs in the bench's own cgroup, the driver task in its own",
    )
  }
  const serve = spawn(command.command, command.args, { stdio: ['ignore', 'ignore', 'inherit'] })
  cleanup.add(() => stopChild(serve))
  const serveBase = `http://127.0.0.1:${servePort}/`
  await firstOk(serveBase, () => serve.exitCode !== null)

  // A first start compiles the component into the node's cache: give it time.
  const [alloc] = await waitForAllocs(env.NOMAD_ADDR!, name, 1, 'running', 300_000)
  const driverBase = `${allocAddress(alloc!)}/`
  await firstOk(driverBase, () => false)
  const hostPids = await taskProcessPids(alloc!.ID)
  if (hostPids.length === 0) throw new Error(`no wasm host process of allocation ${alloc!.ID} under /proc`)

  const idle = { serve: await procRss([serve.pid!]), driver: await procRss(hostPids) }
  const load = (base: string) => runLoad(base, { connections: o.connections, durationMs: o.seconds * 1000 })
  const rounds: Record<'serve' | 'driver', LoadResult[]> = { serve: [], driver: [] }
  let serveRss: number | undefined
  let driverRss: { proc: number | undefined; nomad: number | undefined } = {
    proc: undefined,
    nomad: undefined,
  }
  for (let round = 0; round < o.rounds; round++) {
    rounds.serve.push(await load(serveBase))
    serveRss = await procRss([serve.pid!])
    rounds.driver.push(await load(driverBase))
    driverRss = { proc: await procRss(hostPids), nomad: await nomadRss(env.NOMAD_ADDR!, alloc!.ID) }
  }
  const serveResult = medianByRate(rounds.serve)
  const driverResult = medianByRate(rounds.driver)
  const all = (results: LoadResult[]) => results.map((r) => r.rps.toFixed(0)).join(', ')
  say(`req/s by round: wasmtime serve ${all(rounds.serve)}; driver job ${all(rounds.driver)}`)
  say(row('Rust hello, wasmtime serve', serveResult))
  say(row(`Rust hello, driver job (${o.instances} inst.)`, driverResult))
  const ratio = driverResult.rps / serveResult.rps
  say(
    `ratio driver / wasmtime serve      ${ratio.toFixed(3)}x req/s (target >= 0.9x: ${ratio >= 0.9 ? 'met' : 'MISSED'}), p50 ${(driverResult.p50Ms / serveResult.p50Ms).toFixed(2)}x`,
  )
  say(
    `RSS after load: driver task ${mib(driverRss.proc)} (/proc of its host; Nomad's task stats ${mib(driverRss.nomad)}), warm-idle ${mib(idle.driver)}; ` +
      `wasmtime serve ${mib(serveRss)}, warm-idle ${mib(idle.serve)}`,
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { 'wasmtime-cli': cli } = await resolveBinaries(loadConfig(), ['wasmtime-cli'])
  await benchRustVsServe(optionsFromEnv(cli!))
}
