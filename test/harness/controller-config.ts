// The configuration of a controller that shares the tests' cloud with other
// test files: its apps, status and leader keys under a root of its own in
// Consul KV, its HTTP API on a free port of 127.0.0.1, its id the root.
import { loadControllerConfig, type ControllerConfig } from '../../controller/config.ts'
import { asController } from './controller-identity.ts'

/**
 * `env` (the cloud's) with the controller's keys under `${root}/` and its own
 * least-privilege tokens for them; `extra` is applied last.
 */
export async function isolatedControllerConfig(
  env: Readonly<Record<string, string>>,
  root: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<ControllerConfig> {
  return loadControllerConfig(await asController({
    ...env,
    LEAN_APPS_PREFIX: `${root}/apps/`,
    LEAN_STATUS_PREFIX: `${root}/status/`,
    LEAN_LEADER_KEY: `${root}/leader`,
    LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0',
    LEAN_CONTROLLER_ID: root,
    ...extra,
  }))
}
