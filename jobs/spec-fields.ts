// The building blocks of the app document validators (app-spec.ts,
// vm-document.ts, placement.ts): each reads one field of parsed JSON and names
// it (a JSON path) with the reason when it is wrong. The read* functions take
// the field's rules from its entry in the field table (document-fields.ts).
import { SpecError } from './errors.ts'
import type {
  AnyOfField,
  BooleanField,
  EnumField,
  IntegerField,
  ListField,
  MapField,
  ObjectField,
  Read,
  StringField,
} from './field-table.ts'

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

/** The longest string most fields take, in UTF-16 code units (JavaScript's length). */
export const MAX_TEXT = 4096
/** The longest list of strings a field takes as the document is read. */
export const MAX_STRINGS = 64

export function int(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    return fail(field, `expected a whole number from ${min} to ${max}`)
  return value
}

// C0 controls, DEL and C1 controls; the second spares tab, line feed and carriage return.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
// eslint-disable-next-line no-control-regex -- as above
export const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/

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
  if (value.length > MAX_TEXT) return fail(field, `longer than ${MAX_TEXT} characters`)
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
  if (!Array.isArray(value) || value.length > MAX_STRINGS)
    return fail(field, `expected a list of at most ${MAX_STRINGS} strings`)
  return value.map((v, i) => str(v, `${field}[${i}]`, pattern, what)!)
}

export function bool(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') return fail(field, 'expected true or false')
  return value
}

/**
 * `"ingress"`: `true` (reached at the service's name), `{ "host": "<label>" }`,
 * or `false`/absent (not behind the ingress), as its table entry says. The
 * label's own rules are the renderer's (jobs/ingress.ts), so a default host
 * from the name is checked too.
 */
export function ingress(
  def: AnyOfField,
  value: unknown,
  field: string,
  defaultHost: string,
): { host: string } | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return { host: defaultHost }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(field, 'expected true, false or { "host": "<label>" }')
  const form = def.options.find((o): o is ObjectField => o.type === 'object')
  const o = object(value, field, Object.keys(form?.fields ?? {}))
  return { host: str(o.host, `${field}.host`) ?? defaultHost }
}

/** Drops undefined members, so optional fields stay absent (exactOptionalPropertyTypes). */
export const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>
  }

/** The reason an absent field is refused with, or undefined when it may be absent. */
function missing(def: { readonly required?: true | string }, field: string): undefined {
  if (def.required !== undefined) fail(field, def.required === true ? 'required' : def.required)
  return undefined
}

/** An object field by its table entry: absent (refused if required), or an object of its fields only. */
export function readObject<D extends ObjectField>(def: D, value: unknown, field: string): Read<D, Json> {
  if (value === undefined) return missing(def, field) as Read<D, Json>
  return object(value, field, Object.keys(def.fields)) as Read<D, Json>
}

/** A whole number in the entry's range; its default when absent. */
export function readInt<D extends IntegerField>(def: D, value: unknown, field: string): Read<D, number> {
  return (int(value, field, def.min, def.max) ?? def.default ?? missing(def, field)) as Read<D, number>
}

/** A string of the entry's form and pattern; its default when absent. */
export function readString<D extends StringField>(def: D, value: unknown, field: string): Read<D, string> {
  let text: string | undefined
  switch (def.form ?? 'line') {
    case 'line':
    case 'lines':
      text = str(value, field, def.pattern, def.what, { multiline: def.form === 'lines' })
      break
    case 'long lines':
      // No length bound here: the renderer's own (e.g. cloud-config's 32 KiB).
      if (value !== undefined && typeof value !== 'string') fail(field, 'expected a string')
      text = value === undefined ? undefined : noControls(value as string, field, true)
      break
    case 'pattern':
      if (value !== undefined) {
        if (
          typeof value !== 'string' ||
          (def.maxLength !== undefined && value.length > def.maxLength) ||
          (def.pattern !== undefined && !def.pattern.test(value))
        )
          fail(field, `expected ${def.what}`)
        text = value as string
      }
      break
  }
  return (text ?? def.default ?? missing(def, field)) as Read<D, string>
}

/** A list of strings, each of the entry's item pattern. */
export function readStrings<D extends ListField>(def: D, value: unknown, field: string): Read<D, string[]> {
  const item = def.items.type === 'string' ? def.items : undefined
  const list = strings(value, field, item?.pattern, item?.what)
  if (list?.length === 0 && def.nonEmpty !== undefined) fail(field, def.nonEmpty)
  return (list ?? missing(def, field)) as Read<D, string[]>
}

export function readBool(def: BooleanField, value: unknown, field: string): boolean | undefined {
  return bool(value, field) ?? missing(def, field)
}

/** One of the entry's values; its default when absent. */
export function readEnum<D extends EnumField>(
  def: D,
  value: unknown,
  field: string,
): Read<D, D['values'][number]> {
  if (value === undefined) return (def.default ?? missing(def, field)) as Read<D, D['values'][number]>
  if (typeof value !== 'string' || !def.values.includes(value))
    fail(
      field,
      `expected ${def.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${JSON.stringify(value)?.slice(0, 40)}`,
    )
  return value as Read<D, D['values'][number]>
}

/** An object of free keys, at most the entry's count of them; its values are the caller's to read. */
export function readMap(def: MapField, value: unknown, field: string): Json | undefined {
  if (value === undefined) return missing(def, field)
  const keys = typeof value === 'object' && value !== null ? Object.keys(value) : []
  const map = object(value, field, keys)
  if (def.maxEntries && keys.length > def.maxEntries.count)
    fail(field, `at most ${def.maxEntries.count} ${def.maxEntries.noun}`)
  return map
}
