// The building blocks of the app document validators (app-spec.ts,
// vm-document.ts): each reads one field of parsed JSON and names it (a JSON
// path) with the reason when it is wrong.
import { SpecError } from './errors.ts'

export const APP_NAME = /^[a-z][a-z0-9-]{0,62}$/

export { SpecError }

export type Json = Record<string, unknown>
export const fail = (field: string, reason: string): never => {
  throw new SpecError(field, reason)
}

export function object(value: unknown, field: string, allowed: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(field, 'expected an object')
  for (const key of Object.keys(value))
    if (!allowed.includes(key))
      fail(field === '$' ? key : `${field}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`)
  return value as Json
}

export function int(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    return fail(field, `expected a whole number from ${min} to ${max}`)
  return value
}

// C0 controls, DEL and C1 controls; the second spares tab, line feed and carriage return.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
// eslint-disable-next-line no-control-regex -- as above
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/

/** Refuses control characters (NUL among them), naming the first; `multiline` allows tab, CR and LF. */
export function noControls(value: string, field: string, multiline = false): string {
  const m = (multiline ? CONTROL_BUT_LINES : CONTROL).exec(value)
  if (m) {
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    fail(field, `contains the control character U+${code} at offset ${m.index}`)
  }
  return value
}

export function str(
  value: unknown,
  field: string,
  pattern?: RegExp,
  what?: string,
  options: { multiline?: boolean } = {},
): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return fail(field, 'expected a string')
  if (value.length > 4096) return fail(field, 'longer than 4096 characters')
  noControls(value, field, options.multiline)
  if (pattern && !pattern.test(value)) return fail(field, `expected ${what}`)
  return value
}

export function strings(
  value: unknown,
  field: string,
  pattern?: RegExp,
  what?: string,
): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length > 64) return fail(field, 'expected a list of at most 64 strings')
  return value.map((v, i) => str(v, `${field}[${i}]`, pattern, what)!)
}

export function bool(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') return fail(field, 'expected true or false')
  return value
}

/**
 * `"ingress"`: `true` (reached at the service's name), `{ "host": "<label>" }`,
 * or `false`/absent (not behind the ingress). The label's own rules are the
 * renderer's (jobs/ingress.ts), so a default host from the name is checked too.
 */
export function ingress(value: unknown, field: string, defaultHost: string): { host: string } | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return { host: defaultHost }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(field, 'expected true, false or { "host": "<label>" }')
  const o = object(value, field, ['host'])
  return { host: str(o.host, `${field}.host`) ?? defaultHost }
}

/** Drops undefined members, so optional fields stay absent (exactOptionalPropertyTypes). */
export const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>
  }

