// The one error of a document or spec problem, from the units and the
// validators to the app's status and the API's answer: the field (a JSON
// path) and the reason, kept apart so nobody has to take a message apart.
export class SpecError extends Error {
  readonly code = 'LEAN_ERR_SPEC_INVALID' as const

  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`)
    this.name = 'SpecError'
  }
}
