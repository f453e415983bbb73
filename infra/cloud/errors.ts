// Error classes of the local cloud tooling. Each carries a stable code so that
// scripts and tests can tell failures apart without matching message text.

export type CloudErrorCode =
  | 'LEAN_ERR_CLOUD_CONFIG'
  | 'LEAN_ERR_CLOUD_BINARY'
  | 'LEAN_ERR_CLOUD_PORT_IN_USE'
  | 'LEAN_ERR_CLOUD_START'
  | 'LEAN_ERR_CLOUD_TIMEOUT'
  | 'LEAN_ERR_CLOUD_PREREQUISITES'
  | 'LEAN_ERR_CLOUD_RESET'
  | 'LEAN_ERR_CLOUD_NODES'
  | 'LEAN_ERR_CLOUD_NETWORK'

export class CloudError extends Error {
  readonly code: CloudErrorCode

  constructor(code: CloudErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CloudError'
    this.code = code
  }
}

export class ConfigError extends CloudError {
  /** The configuration variable at fault, e.g. `LEAN_CLOUD_NOMAD_HTTP_PORT`. */
  readonly field: string

  constructor(field: string, reason: string) {
    super('LEAN_ERR_CLOUD_CONFIG', `invalid configuration ${field}: ${reason}`)
    this.name = 'ConfigError'
    this.field = field
  }
}
