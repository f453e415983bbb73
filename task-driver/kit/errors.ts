// Errors of the driver kit and the wasm task driver. Each code maps to one gRPC status, so Nomad
// shows a clear task event; `recoverable` tells Nomad whether a restart can help.
export type DriverErrorCode =
  | 'LEAN_ERR_DRIVER_CONFIG'
  | 'LEAN_ERR_DRIVER_TASK_NOT_FOUND'
  | 'LEAN_ERR_DRIVER_TASK_EXISTS'
  | 'LEAN_ERR_DRIVER_UNSUPPORTED'
  | 'LEAN_ERR_DRIVER_RUNNER_START'
  | 'LEAN_ERR_DRIVER_RECOVER'
  | 'LEAN_ERR_DRIVER_CGROUP'
  | 'LEAN_ERR_TASK_MEMORY'
  | 'LEAN_ERR_COMPONENT_SOURCE'
  | 'LEAN_ERR_COMPONENT_FETCH'
  | 'LEAN_ERR_COMPONENT_TOO_LARGE'
  | 'LEAN_ERR_COMPONENT_DIGEST'
  | 'LEAN_ERR_COMPONENT_COMPILE'
  | 'LEAN_ERR_COMPONENT_TRAP'
  | 'LEAN_ERR_CAPABILITY_DENIED'
  | 'LEAN_ERR_CAPABILITY_REQUEST'
  | 'LEAN_ERR_CAPABILITY_NOT_FOUND'
  | 'LEAN_ERR_CAPABILITY_UNAVAILABLE'
  | 'LEAN_ERR_CAPABILITY_BACKEND'
  | 'LEAN_ERR_CAPABILITY_CONFLICT'

const brand = Symbol.for('lean.error.driver')

export class DriverError extends Error {
  readonly code: DriverErrorCode
  readonly recoverable: boolean

  constructor(code: DriverErrorCode, message: string, options: { cause?: unknown; recoverable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DriverError'
    this.code = code
    this.recoverable = options.recoverable ?? false
  }

  get [brand](): true {
    return true
  }

  // Survives two copies of this module (plugin and runner bundles).
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true
  }
}
