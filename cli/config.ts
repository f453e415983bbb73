// leanctl's configuration, read from the environment once at start. The same
// variables and rules as the controller's (an address without a scheme gets
// http://, prefixes end in / and do not overlap), so both agree on the keys.
import type { CaCert } from '../controller/ca-trust.ts'
import { caCertsOf, httpOrigin, loadControllerConfig } from '../controller/config.ts'

export interface CliConfig {
  readonly consulAddr: string
  readonly consulToken?: string
  /** The CAs of CONSUL_CACERT / CONSUL_CAPATH (an HTTPS Consul with a CA of its own). */
  readonly caCerts?: readonly CaCert[]
  readonly appsPrefix: string
  readonly statusPrefix: string
  /** The controller's HTTP API, which the vm and image commands talk to. */
  readonly controllerAddr: string
}

/** Where the demo's controller listens (LEAN_CONTROLLER_HTTP_ADDR's default). */
export const DEFAULT_CONTROLLER_ADDR = '127.0.0.1:4680'

/** Throws ControllerConfigError naming the variable. */
export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  // Only the variables leanctl uses: a controller-only setting (NOMAD_ADDR, workers) must not break it.
  const { consulAddr, consulToken, appsPrefix, statusPrefix } = loadControllerConfig({
    CONSUL_HTTP_ADDR: env.CONSUL_HTTP_ADDR,
    CONSUL_HTTP_TOKEN: env.CONSUL_HTTP_TOKEN,
    CONSUL_HTTP_SSL: env.CONSUL_HTTP_SSL,
    LEAN_APPS_PREFIX: env.LEAN_APPS_PREFIX,
    LEAN_STATUS_PREFIX: env.LEAN_STATUS_PREFIX,
  })
  const caCerts = caCertsOf(env, ['CONSUL_CACERT', 'CONSUL_CAPATH'])
  return Object.freeze({
    consulAddr,
    ...(consulToken !== undefined && { consulToken }),
    ...(caCerts.length > 0 && { caCerts: Object.freeze(caCerts) }),
    appsPrefix,
    statusPrefix,
    controllerAddr: httpOrigin('LEAN_CONTROLLER_ADDR', env.LEAN_CONTROLLER_ADDR, DEFAULT_CONTROLLER_ADDR),
  })
}
