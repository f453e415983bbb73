// Errors of the job renderers: a spec problem, naming the field and the reason.
export class JobSpecError extends Error {
  readonly code = 'LEAN_ERR_SPEC_INVALID' as const
  readonly field: string

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`)
    this.name = 'JobSpecError'
    this.field = field
  }
}
