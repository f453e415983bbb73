// Finds (building when needed) the pinned Consul, Nomad and SeaweedFS binaries
// and our wasm engine host
// through infra/build-binaries.sh, which owns the version pins and the cache.
import { spawn } from 'node:child_process'
import path from 'node:path'
import type { CloudConfig } from './config.ts'
import { CloudError } from './errors.ts'

export async function resolveBinaries(config: CloudConfig, programs: readonly string[]): Promise<Record<string, string>> {
  if (programs.length === 0) return {}
  const { code, found } = await runScript(config, programs)
  if (code !== 0) {
    throw new CloudError('LEAN_ERR_CLOUD_BINARY', `could not build or find ${programs.join(', ')} (see the build output above)`)
  }
  for (const p of programs) {
    if (!found[p]) throw new CloudError('LEAN_ERR_CLOUD_BINARY', `build-binaries.sh printed no path for ${p}`)
  }
  return found
}

/** The path of a program that is already built (never builds); undefined when it is not. */
export async function builtBinary(config: CloudConfig, program: string): Promise<string | undefined> {
  return (await runScript(config, ['--print', program])).found[program]
}

async function runScript(config: CloudConfig, args: readonly string[]): Promise<{ code: number | null; found: Record<string, string> }> {
  const script = path.join(config.repoDir, 'infra', 'build-binaries.sh')
  const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  const found: Record<string, string> = {}
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) found[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return { code, found }
}
