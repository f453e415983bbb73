// A closed-loop HTTP load generator: `connections` keep-alive connections,
// each sending its next request when the previous answer is read, for a fixed
// time. Both sides of every comparison are measured with it, in one run.
import http from 'node:http'

export interface LoadResult {
  readonly requests: number
  readonly errors: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** A request body: each request POSTs it (GET without one). */
export interface LoadBody {
  readonly contentType: string
  readonly data: Buffer
}

function once(agent: http.Agent, url: URL, body: LoadBody | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': body.contentType, 'content-length': body.data.length } : {}
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, agent, method: body ? 'POST' : 'GET', headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body?.data)
  })
}

export async function runLoad(target: string, options: { connections: number; durationMs: number; warmupMs?: number; body?: LoadBody }): Promise<LoadResult> {
  const url = new URL(target)
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections })
  const latencies: number[] = []
  let errors = 0
  const warmupEnd = Date.now() + (options.warmupMs ?? 1000)
  const end = warmupEnd + options.durationMs
  async function connection(): Promise<void> {
    while (Date.now() < end) {
      const started = performance.now()
      try {
        const status = await once(agent, url, options.body)
        if (status !== 200) errors += 1
      } catch {
        errors += 1
      }
      if (Date.now() >= warmupEnd) latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: options.connections }, connection))
  agent.destroy()
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    errors,
    rps: latencies.length / (options.durationMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  }
}
