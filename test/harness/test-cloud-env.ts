// The tests' own cloud: its own data dir, ports (offset by 1000), Nomad port
// range, KV prefixes and leader key, so `npm test` never touches the cloud a
// user runs with `npm run demo` on the same machine. Variables already set win,
// which lets a developer point the suite elsewhere on purpose.
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

/** Sets every test-cloud variable that is not set yet; returns the names it set. */
export function applyTestCloudEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = []
  for (const [name, value] of Object.entries(TEST_CLOUD_ENV)) {
    if (env[name] === undefined || env[name] === '') {
      env[name] = value
      set.push(name)
    }
  }
  return set
}
