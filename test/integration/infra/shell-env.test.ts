// A user who loaded their own cloud's cloud.env into the shell (as the README
// says, to use consul, nomad and psql) and then runs `npm test` or a bench: the
// runner and the harness leave that cloud alone and run on the tests' own.
// The user's cloud here is a data dir with real credentials and cloud.env,
// whose every address leads to a listener that counts connections.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { loadConfig } from '../../../infra/cloud/config.ts'
import {
  cloudEnv,
  loadOrCreateCredentials,
  readEnvFile,
  writeEnvFile,
} from '../../../infra/cloud/credentials.ts'
import { useCloud } from '../../harness/cloud.ts'
import { TEST_CLOUD_ENV } from '../../harness/test-cloud-env.ts'

const run = promisify(execFile)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Trap {
  port: number
  connections: number
  server: Server
}

/** A listener on a free loopback port that counts (and drops) every connection. */
async function trap(): Promise<Trap> {
  const t: Trap = { port: 0, connections: 0, server: createServer() }
  t.server.on('connection', (socket) => {
    t.connections++
    socket.destroy()
  })
  await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve))
  t.port = (t.server.address() as { port: number }).port
  return t
}

/** Every file below `dir`, with its size and modification time. */
async function snapshot(dir: string): Promise<string[]> {
  const files = await readdir(dir, { recursive: true })
  return Promise.all(
    files.sort().map(async (f) => {
      const s = await stat(path.join(dir, f))
      return `${f} ${s.size} ${s.mtimeMs}`
    }),
  )
}

/** A user's cloud that is "running": its cloud.env, as the shell holds it once loaded. */
async function usersCloud(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-users-cloud-'))
  const ports = ['CONSUL_HTTP', 'CONSUL_DNS', 'NOMAD_HTTP', 'S3', 'POSTGRES', 'SMTP', 'INGRESS'] as const
  const traps = await Promise.all(ports.map(() => trap()))
  t.after(async () => {
    await Promise.all(traps.map((x) => new Promise((resolve) => x.server.close(resolve))))
    await rm(dir, { recursive: true, force: true })
  })
  const config = loadConfig({
    LEAN_CLOUD_DATA_DIR: dir,
    ...Object.fromEntries(ports.map((p, i) => [`LEAN_CLOUD_${p}_PORT`, String(traps[i]!.port)])),
  })
  const envFile = await writeEnvFile(config, cloudEnv(config, await loadOrCreateCredentials(config)))
  const shell = (await readEnvFile(envFile))!
  return { dir, traps, shell, before: await snapshot(dir) }
}

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env }
  delete rest.NODE_TEST_CONTEXT
  return rest
}

function connections(traps: Trap[]): number {
  return traps.reduce((n, x) => n + x.connections, 0)
}

test("with a user's cloud.env loaded, the integration runner runs a test file on the tests' cloud and never reaches the user's", async (t) => {
  await useCloud()
  const user = await usersCloud(t)
  assert.ok(Object.keys(user.shell).length >= 20, 'cloud.env holds the addresses and tokens')

  // What `npm test` runs after the unit tests, for one small file that talks to Consul.
  const child = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repo, 'test', 'run-integration.ts'),
      path.join(repo, 'test', 'integration', 'infra', 'consul-kv.test.ts'),
    ],
    // Without NODE_TEST_CONTEXT (this test's runner sets it): the nested runner then prints its report as a user sees it.
    { cwd: repo, env: { ...withoutTestContext(process.env), ...user.shell }, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
  ).catch((err: { stdout?: string; stderr?: string; code?: number }) =>
    assert.fail(`the runner failed (${err.code}):\n${err.stderr}\n${err.stdout}`),
  )

  assert.match(child.stdout, /ℹ pass 1\b/)
  assert.match(child.stdout, /ℹ fail 0\b/)
  const dataDir = TEST_CLOUD_ENV.LEAN_CLOUD_DATA_DIR!
  assert.ok(
    child.stderr.includes(
      `the tests' cloud lives in ${dataDir} (Consul ${loadConfig({ ...TEST_CLOUD_ENV }).consul.httpPort}`,
    ),
    child.stderr,
  )
  assert.match(
    child.stderr,
    /left out \d+ variables of the shell that belong to another cloud \(.*CONSUL_HTTP_ADDR.*LEAN_CLOUD_DATA_DIR.*NOMAD_TOKEN/,
  )
  assert.equal(connections(user.traps), 0, "no connection to the user's cloud")
  assert.deepEqual(await snapshot(user.dir), user.before, "the user's data dir is untouched")
})

test("with a user's cloud.env loaded, `npm run test:cloud -- status` reports the tests' cloud", async (t) => {
  const { config } = await useCloud()
  const user = await usersCloud(t)
  const child = await run(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'test', 'cloud-cli.ts'), 'status'],
    {
      cwd: repo,
      env: { ...process.env, ...user.shell },
      timeout: 120_000,
    },
  ).catch((err: { stdout?: string; stderr?: string }) =>
    assert.fail(`status failed:\n${err.stderr}\n${err.stdout}`),
  )
  // Had it asked the user's cloud, the traps would count it and nothing would be healthy.
  assert.match(child.stdout, /^consul\s+healthy /m)
  assert.match(child.stdout, /^nomad\s+healthy /m)
  assert.match(child.stderr, new RegExp(`the tests run on their own cloud in ${config.dataDir}`))
  assert.equal(connections(user.traps), 0, "no connection to the user's cloud")
  assert.deepEqual(await snapshot(user.dir), user.before, "the user's data dir is untouched")
})
