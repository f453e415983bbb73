// Load for the benchmarks: wrk (Debian's, installed by the prerequisites
// step), the same command on every side of a comparison, in one run. wrk is
// written in C and drives thousands of requests per second from one thread,
// so the load generator is not what a figure measures.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface LoadResult {
  readonly requests: number
  /** Answers other than 2xx/3xx, and socket errors. */
  readonly errors: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/** A request body: each request POSTs it (GET without one). */
export interface LoadBody {
  readonly contentType: string
  readonly data: Buffer
}

export interface LoadOptions {
  readonly connections: number
  readonly durationMs: number
  /** wrk threads (1: leaves the other core to the server on a 2-core machine). */
  readonly threads?: number
  readonly body?: LoadBody
  /** Extra request headers, e.g. the Host an ingress routes by. */
  readonly headers?: Readonly<Record<string, string>>
  /** A first, unmeasured run (default 1 s): warm instances, JIT and connection pools. */
  readonly warmupMs?: number
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function ms(value: string, unit: string): number {
  return Number(value) * (UNIT_MS[unit] ?? NaN)
}

/** Reads the figures out of `wrk --latency` output. */
export function parseWrk(output: string): LoadResult {
  const requests = Number(/(\d+) requests in /.exec(output)?.[1] ?? NaN)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN)
  const percentile = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output)
    return m ? ms(m[1]!, m[2]!) : NaN
  }
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0
  if (!Number.isFinite(requests) || !Number.isFinite(rps)) throw new Error(`cannot read wrk's output:\n${output}`)
  return { requests, errors: non2xx + socketErrors, rps, p50Ms: percentile(50), p99Ms: percentile(99) }
}

/** A wrk script that POSTs `body` on every request. */
function postScript(body: LoadBody): string {
  // A Lua long string whose level no '=' run in the body can close.
  let level = '='
  const text = body.data.toString('utf8')
  while (text.includes(`]${level}]`)) level += '='
  return `wrk.method = "POST"\nwrk.headers["Content-Type"] = ${JSON.stringify(body.contentType)}\nwrk.body = [${level}[${text}]${level}]\n`
}

/** The round with the median rate: what a run of several rounds reports. */
export function medianByRate(results: readonly LoadResult[]): LoadResult {
  return [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)]!
}

export async function runLoad(target: string, options: LoadOptions): Promise<LoadResult> {
  const warmupMs = options.warmupMs ?? 1000
  if (warmupMs > 0) await wrk(target, { ...options, durationMs: warmupMs })
  return wrk(target, options)
}

async function wrk(target: string, options: LoadOptions): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round(options.durationMs / 1000))
  const threads = Math.min(options.threads ?? 1, options.connections)
  const args = ['--latency', '-t', String(threads), '-c', String(options.connections), '-d', `${seconds}s`, '--timeout', '30s']
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`)
  let scratch: string | undefined
  if (options.body) {
    scratch = await mkdtemp(path.join(tmpdir(), 'bench-wrk-'))
    const script = path.join(scratch, 'post.lua')
    await writeFile(script, postScript(options.body))
    args.push('-s', script)
  }
  try {
    const { stdout } = await run('wrk', [...args, target], { maxBuffer: 1 << 20 }).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
      if (err.code === 'ENOENT') throw new Error('wrk is not installed: run `npm run prerequisites` (it installs Debian\'s wrk)')
      throw new Error(`wrk failed: ${err.stderr || err.message}`)
    })
    return parseWrk(stdout)
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true })
  }
}
