// The tests' own cloud: its own data dir, ports (offset by 1000), Nomad port
// range, KV prefixes and leader key, so `npm test` and the benchmarks never
// touch the cloud a user runs with `npm run demo` on the same machine.
//
// Whatever the shell holds: a user who loaded `.lean-cloud/cloud.env` (as the
// README says, to use consul, nomad and psql) has exported their cloud's data
// dir, addresses and tokens. Those are left out here, and the tests' values
// always win, so the tests' agents never share the user's data dir and no test
// talks to the user's cloud.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const TEST_CLOUD_ENV: Readonly<Record<string, string>> = {
  LEAN_CLOUD_DATA_DIR: path.join(repoDir, '.lean-cloud-test'),
  LEAN_CLOUD_PORT_OFFSET: '1000',
  LEAN_CLOUD_NOMAD_DYNAMIC_PORTS: '26000-31999',
  LEAN_APPS_PREFIX: 'lean-cloud-test/apps/',
  LEAN_STATUS_PREFIX: 'lean-cloud-test/status/',
  LEAN_LEADER_KEY: 'lean-cloud-test/leader',
}

/** Settings of the run, not of a cloud: the shell's are kept. */
const KEPT = new Set(['LEAN_CLOUD_CACHE', 'LEAN_CLOUD_START_TIMEOUT_SECONDS'])

/**
 * Whether a variable names or reaches a cloud: cloud.env's (Consul, Nomad, S3,
 * PostgreSQL, SMTP, ingress, maildir, tokens), the cloud's and the controller's
 * configuration, and libpq's PG* defaults.
 */
export function describesACloud(name: string): boolean {
  if (KEPT.has(name) || name.startsWith('LEAN_TEST_')) return false
  return (
    /^(CONSUL|NOMAD|S3|DATABASE|SMTP)_/.test(name) ||
    /^LEAN_/.test(name) ||
    /^PG[A-Z]+$/.test(name) ||
    name === 'INGRESS_ADDR' ||
    name === 'MAILDIR'
  )
}

/**
 * Makes `env` the tests' cloud: leaves out every variable of another cloud and
 * sets the tests' own. Returns the names it left out (shell values that are
 * not the tests' own), after saying so through `say`.
 */
export function applyTestCloudEnv(
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): string[] {
  const leftOut: string[] = []
  for (const name of Object.keys(env)) {
    if (!describesACloud(name)) continue
    if (env[name] !== TEST_CLOUD_ENV[name]) leftOut.push(name)
    delete env[name]
  }
  Object.assign(env, TEST_CLOUD_ENV)
  if (leftOut.length > 0) {
    say(
      `[test cloud] left out ${leftOut.length} variables of the shell that belong to another cloud ` +
        `(${leftOut.sort().join(', ')}): the tests run on their own cloud in ${TEST_CLOUD_ENV.LEAN_CLOUD_DATA_DIR}`,
    )
  }
  return leftOut
}
