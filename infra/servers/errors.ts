// Errors of the real-servers tooling (cluster:render, cluster:prepare,
// cluster:init), each with a stable code; an inventory error names its field.

export type ServersErrorCode = 'LEAN_ERR_SERVERS_INVENTORY' | 'LEAN_ERR_SERVERS_USAGE' | 'LEAN_ERR_SERVERS_PREPARE'

export class ServersError extends Error {
  readonly code: ServersErrorCode

  constructor(code: ServersErrorCode, message: string) {
    super(message)
    this.name = 'ServersError'
    this.code = code
  }
}

export class InventoryError extends ServersError {
  /** The field at fault, e.g. `servers[1].address`. */
  readonly field: string

  constructor(field: string, reason: string) {
    super('LEAN_ERR_SERVERS_INVENTORY', `inventory ${field}: ${reason}`)
    this.name = 'InventoryError'
    this.field = field
  }
}
