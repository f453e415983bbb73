// Errors of leanctl. Each carries a stable code and the process exit code it
// ends with: 2 for what the operator typed or wrote, 1 for what happened.
export type CliErrorCode =
  | 'LEAN_ERR_CLI_USAGE'
  | 'LEAN_ERR_CLI_DOCUMENT'
  | 'LEAN_ERR_CLI_NOT_FOUND'
  | 'LEAN_ERR_CLI_CONFLICT'
  | 'LEAN_ERR_CLI_CONTROLLER'
  | 'LEAN_ERR_CLI_COMPONENT'

export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode,
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** A bad command line: unknown command or option, missing argument, bad value. */
export class UsageError extends CliError {
  /** Whether the whole usage text helps (no or an unknown command), or one hint line does. */
  readonly showUsage: boolean

  constructor(message: string, options: { showUsage?: boolean } = {}) {
    super('LEAN_ERR_CLI_USAGE', message, 2)
    this.showUsage = options.showUsage ?? false
    this.name = 'UsageError'
  }
}

/** A document file that cannot be read, or is not JSON or YAML (the message names the line when it can). */
export class DocumentError extends CliError {
  constructor(message: string) {
    super('LEAN_ERR_CLI_DOCUMENT', message, 2)
    this.name = 'DocumentError'
  }
}

/** The app has no document under the apps prefix. */
export class NotFoundError extends CliError {
  constructor(message: string) {
    super('LEAN_ERR_CLI_NOT_FOUND', message, 1)
    this.name = 'NotFoundError'
  }
}

/** The key changed between our read and our check-and-set write. */
export class ConflictError extends CliError {
  constructor(message: string) {
    super('LEAN_ERR_CLI_CONFLICT', message, 1)
    this.name = 'ConflictError'
  }
}

/** The controller's HTTP API could not be reached, or refused the request for a reason other than those above. */
export class ControllerError extends CliError {
  constructor(message: string) {
    super('LEAN_ERR_CLI_CONTROLLER', message, 1)
    this.name = 'ControllerError'
  }
}

/** A component file that cannot be read, or that the engine could not run (the inspection's reasons, one per line). */
export class ComponentFileError extends CliError {
  constructor(message: string) {
    super('LEAN_ERR_CLI_COMPONENT', message, 2)
    this.name = 'ComponentFileError'
  }
}
