// The controller's configuration: read from the environment once at start,
// validated, frozen. Honours Consul's and Nomad's own variables.
export interface ControllerConfig {
  readonly consulAddr: string
  readonly consulToken?: string
  readonly nomadAddr: string
  readonly nomadToken?: string
  /** Desired state: `<appsPrefix><name>`. */
  readonly appsPrefix: string
  /** Status: `<statusPrefix><name>`; a separate prefix, so status writes never wake the spec watch. */
  readonly statusPrefix: string
  /** Apps reconciled at once. */
  readonly workers: number
}

export class ControllerConfigError extends Error {
  readonly code = 'LEAN_ERR_CONTROLLER_CONFIG' as const
}

function url(name: string, value: string | undefined, fallback: string): string {
  const raw = value && value !== '' ? value : fallback
  const withScheme = /^https?:\/\//.test(raw) ? raw : `http://${raw}`
  try {
    return new URL(withScheme).origin
  } catch {
    throw new ControllerConfigError(`${name}: not an address: ${raw}`)
  }
}

function prefix(name: string, value: string | undefined, fallback: string): string {
  const raw = value && value !== '' ? value : fallback
  if (!/^[A-Za-z0-9._/-]+\/$/.test(raw)) throw new ControllerConfigError(`${name}: expected a KV path ending in /, got ${raw}`)
  return raw
}

export function loadControllerConfig(env: Record<string, string | undefined> = process.env): ControllerConfig {
  const workers = Number(env.LEAN_CONTROLLER_WORKERS ?? 4)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ControllerConfigError('LEAN_CONTROLLER_WORKERS: expected a whole number from 1 to 64')
  const config: ControllerConfig = {
    consulAddr: url('CONSUL_HTTP_ADDR', env.CONSUL_HTTP_ADDR, '127.0.0.1:8500'),
    ...(env.CONSUL_HTTP_TOKEN && { consulToken: env.CONSUL_HTTP_TOKEN }),
    nomadAddr: url('NOMAD_ADDR', env.NOMAD_ADDR, '127.0.0.1:4646'),
    ...(env.NOMAD_TOKEN && { nomadToken: env.NOMAD_TOKEN }),
    appsPrefix: prefix('LEAN_APPS_PREFIX', env.LEAN_APPS_PREFIX, 'lean-cloud/apps/'),
    statusPrefix: prefix('LEAN_STATUS_PREFIX', env.LEAN_STATUS_PREFIX, 'lean-cloud/status/'),
    workers,
  }
  if (config.appsPrefix.startsWith(config.statusPrefix) || config.statusPrefix.startsWith(config.appsPrefix)) {
    throw new ControllerConfigError('LEAN_STATUS_PREFIX: must not overlap LEAN_APPS_PREFIX (status writes would wake the spec watch)')
  }
  return Object.freeze(config)
}
