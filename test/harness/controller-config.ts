// The configuration of a controller that shares the tests' cloud with other
// test files: its apps, status and leader keys under a root of its own in
// Consul KV, its HTTP API on a free port of 127.0.0.1, its id the root.
import { loadControllerConfig, type ControllerConfig } from '../../controller/config.ts'

/** `env` (the cloud's) with the controller's keys under `${root}/`; `extra` is applied last. */
export function isolatedControllerConfig(
  env: Readonly<Record<string, string>>,
  root: string,
  extra: Readonly<Record<string, string>> = {},
): ControllerConfig {
  return loadControllerConfig({
    ...env,
    LEAN_APPS_PREFIX: `${root}/apps/`,
    LEAN_STATUS_PREFIX: `${root}/status/`,
    LEAN_LEADER_KEY: `${root}/leader`,
    LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0',
    LEAN_CONTROLLER_ID: root,
    ...extra,
  })
}
