// A capability call the runner turns down, with the HTTP status and stable
// code the guest receives (`{ error, code }`).
import type { DriverErrorCode } from '../kit/errors.ts'

export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: DriverErrorCode = 'LEAN_ERR_CAPABILITY_DENIED',
  ) {
    super(message)
    this.name = 'Refusal'
  }
}
