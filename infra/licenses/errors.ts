// Errors of the licence gate (`npm run licenses`). Each carries a stable code
// and the process exit code it ends with: 2 for a bad command line, 1 otherwise.

export type LicenseErrorCode =
  | 'LEAN_ERR_LICENSE_REFUSED'
  | 'LEAN_ERR_LICENSE_UNCHECKED'
  | 'LEAN_ERR_LICENSE_INPUT'
  | 'LEAN_ERR_LICENSE_USAGE'

export class LicenseError extends Error {
  readonly code: LicenseErrorCode
  readonly exitCode: 1 | 2

  constructor(code: LicenseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LicenseError'
    this.code = code
    this.exitCode = code === 'LEAN_ERR_LICENSE_USAGE' ? 2 : 1
  }
}
