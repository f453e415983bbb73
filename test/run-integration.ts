// `npm run test:integration`: brings up the tests' own cloud (see
// harness/test-cloud-env.ts; never the user's), runs the integration test files
// against it one at a time, and stops that cloud again if this run started it
// (LEAN_TEST_KEEP_CLOUD=1 keeps it for the next run). Arguments, if any, are
// the test files to run instead of all of them.
import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { agents } from '../infra/cloud/agents/all.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { down } from '../infra/cloud/down.ts'
import { runningPid } from '../infra/cloud/processes.ts'
import { agentFiles, up } from '../infra/cloud/up.ts'
import { applyTestCloudEnv } from './harness/test-cloud-env.ts'

const root = path.dirname(fileURLToPath(import.meta.url))
const started = Date.now()
const progress = (m: string) => process.stderr.write(`[test cloud ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}\n`)

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true })
  return entries.filter((f) => f.endsWith('.test.ts')).map((f) => path.join(dir, f)).sort()
}

applyTestCloudEnv()
const config = loadConfig()
const running = await Promise.all(agents.map((a) => runningPid(agentFiles(config, a).pidFile)))
const ours = running.every((pid) => pid === undefined)
progress(`the tests' cloud lives in ${config.dataDir} (Consul ${config.consul.httpPort}, Nomad ${config.nomad.httpPort}); ${ours ? 'starting it' : 'reusing the one running'}`)

let code = 1
try {
  await up(config, progress)
  const files = process.argv.length > 2 ? process.argv.slice(2) : await testFiles(path.join(root, 'integration'))
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env: process.env })
  const stop = (signal: NodeJS.Signals) => child.kill(signal)
  process.on('SIGINT', stop).on('SIGTERM', stop)
  code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
} catch (err) {
  progress(`failed: ${(err as Error).message}`)
} finally {
  if (ours && process.env.LEAN_TEST_KEEP_CLOUD !== '1') {
    progress('stopping the cloud this run started (LEAN_TEST_KEEP_CLOUD=1 keeps it)')
    await down(config, progress)
  }
}
process.exit(code)
