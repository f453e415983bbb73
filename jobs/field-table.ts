// The shape of the app documents' field table (jobs/document-fields.ts): each
// field as data, its type, range, pattern, allowed values, default, whether it
// is required, and what it means. The validators read their rules from the
// table (spec-fields.ts, read*), and the JSON Schema is generated from it
// (app-document-schema.ts), so the two say the same. Types only.

/** What every field carries. */
interface FieldBase {
  /** What the field means, for people: the schema's description. */
  readonly description: string
  /** Refused when absent: `true` with the reason "required", or the whole reason. */
  readonly required?: true | string
}

/**
 * Rules the renderers (jobs/vm.ts, jobs/wasm-service.ts, jobs/ingress.ts) check
 * with refusals of their own once the document is read; listed here, as the
 * renderers' own constants, so that the schema states them too.
 */
export interface RenderedRules {
  readonly pattern?: RegExp
  /** Not one of the cloud's own names (jobs/app-names.ts). */
  readonly notReserved?: boolean
  readonly maxLength?: number
  /** A bound in UTF-8 bytes, which the schema can only state in characters (a looser bound). */
  readonly maxBytes?: number
  readonly maxItems?: number
  readonly uniqueItems?: boolean
  readonly maxEntries?: number
  /** The pattern of a map's keys. */
  readonly keyPattern?: RegExp
}

export interface IntegerField extends FieldBase {
  readonly type: 'integer'
  readonly min: number
  readonly max: number
  /** Filled in by the validator when the field is absent. */
  readonly default?: number
}

/**
 * How a string is read: `line` (at most MAX_TEXT characters, no control
 * characters), `lines` (the same, but tab, line feed and carriage return
 * allowed), `long lines` (no length bound of its own; a renderer's bound), or
 * `pattern` (the pattern alone decides, and `maxLength`).
 */
export type TextForm = 'line' | 'lines' | 'long lines' | 'pattern'

export interface StringField extends FieldBase {
  readonly type: 'string'
  /** Default `line`. */
  readonly form?: TextForm
  /** Checked as the document is read, refused as `expected <what>`. */
  readonly pattern?: RegExp
  readonly what?: string
  /** With form `pattern`. */
  readonly maxLength?: number
  readonly default?: string
  readonly rendered?: RenderedRules
}

export interface BooleanField extends FieldBase {
  readonly type: 'boolean'
}

/** One fixed value: a document's kind, or a choice such as `"dynamic"` or `false`. */
export interface ConstField extends FieldBase {
  readonly type: 'const'
  readonly value: string | boolean
}

export interface EnumField extends FieldBase {
  readonly type: 'enum'
  readonly values: readonly string[]
  readonly default?: string
}

export interface ListField extends FieldBase {
  readonly type: 'list'
  readonly items: FieldDef
  /** As the document is read. */
  readonly maxItems: number
  /** Refused when empty, with this reason. */
  readonly nonEmpty?: string
  readonly rendered?: RenderedRules
}

/** A JSON object of named fields; any other field is refused. */
export interface ObjectField extends FieldBase {
  readonly type: 'object'
  readonly fields: Readonly<Record<string, FieldDef>>
  readonly conditions?: readonly Condition[]
}

/** A JSON object of free keys (environment variables, port labels) to values of one kind. */
export interface MapField extends FieldBase {
  readonly type: 'map'
  readonly values: FieldDef
  /** At most this many entries as the document is read, refused as `at most <count> <noun>`. */
  readonly maxEntries?: { readonly count: number; readonly noun: string }
  readonly rendered?: RenderedRules
}

/** One of several forms (`true`, `false` or `{ "host": … }`). */
export interface AnyOfField extends FieldBase {
  readonly type: 'anyOf'
  readonly options: readonly FieldDef[]
  readonly default?: string | boolean
}

export type FieldDef =
  | IntegerField
  | StringField
  | BooleanField
  | ConstField
  | EnumField
  | ListField
  | ObjectField
  | MapField
  | AnyOfField

/**
 * A rule between the fields of one object: when `field` is present with a
 * value in `in` (or any value but those of `notIn`), the fields of
 * `then.required` must be there and those of `then.absent` must not;
 * otherwise those of `else.required` must be.
 */
export interface Condition {
  readonly field: string
  readonly in?: readonly (string | boolean)[]
  readonly notIn?: readonly (string | boolean)[]
  readonly then: { readonly required?: readonly string[]; readonly absent?: readonly string[] }
  readonly else?: { readonly required?: readonly string[] }
}

/** A rule the validator checks that JSON Schema cannot state: named here, in the schema's description and in docs. */
export interface RuleBeyondSchema {
  readonly id: string
  /** The fields it concerns, as the validator names them. */
  readonly fields: readonly string[]
  readonly rule: string
}

/** The field's value as a validator reads it: never undefined when it has a default or is required. */
export type Read<D, T> = D extends { readonly default: unknown }
  ? T
  : D extends { readonly required: true | string }
    ? T
    : T | undefined
