// The JSON Schema (draft 2020-12) of the app documents, generated from the
// validators' own field table (document-fields.ts), so the schema and the
// validator cannot disagree on a field's type, range, pattern or values. What
// a schema cannot state (RULES_BEYOND_SCHEMA) is listed in its description:
// a document the schema refuses, the validator refuses too. Pure.
import { RESERVED_NAMES } from './app-names.ts'
import { RULES_BEYOND_SCHEMA, VM_DOCUMENT, WASM_SERVICE_DOCUMENT } from './document-fields.ts'
import type { Condition, FieldDef, ObjectField, StringField } from './field-table.ts'
import { CONTROL, CONTROL_BUT_LINES, MAX_TEXT } from './spec-fields.ts'

export type JsonSchema = { readonly [keyword: string]: unknown }

/** Where the schema is published in the repository (`npm run gen:schema` writes it). */
export const APP_DOCUMENT_SCHEMA_FILE = 'generated/schema/app-document.schema.json'
export const SCHEMA_MEDIA_TYPE = 'application/schema+json'

const DRAFT = 'https://json-schema.org/draft/2020-12/schema'
const ref = (name: string) => ({ $ref: `#/$defs/${name}` })

/** The string forms every field of that form shares (spec-fields.ts, str()). */
const SHARED_DEFS = {
  line: {
    description: `Text on one line: at most ${MAX_TEXT} characters, no control characters.`,
    type: 'string',
    maxLength: MAX_TEXT,
    not: { pattern: CONTROL.source },
  },
  lines: {
    description: `Text: at most ${MAX_TEXT} characters, no control characters but tab, line feed and carriage return.`,
    type: 'string',
    maxLength: MAX_TEXT,
    not: { pattern: CONTROL_BUT_LINES.source },
  },
  unreserved: {
    description: "Not one of the cloud's own names.",
    not: { enum: [...RESERVED_NAMES] },
  },
} as const

function stringSchema(def: StringField): JsonSchema {
  const form = def.form ?? 'line'
  const base: Record<string, unknown> =
    form === 'line' || form === 'lines'
      ? { ...ref(form), type: 'string' }
      : form === 'long lines'
        ? { type: 'string', not: { pattern: CONTROL_BUT_LINES.source } }
        : { type: 'string', ...(def.maxLength !== undefined && { maxLength: def.maxLength }) }
  const patterns = [def.pattern, def.rendered?.pattern].filter((p): p is RegExp => p !== undefined)
  const more: JsonSchema[] = patterns.slice(1).map((p) => ({ pattern: p.source }))
  if (def.rendered?.notReserved) more.push(ref('unreserved'))
  // A bound in bytes is at least as many characters: the characters' bound is looser, never stricter.
  const maxLength = def.rendered?.maxLength ?? def.rendered?.maxBytes
  return {
    description: def.description,
    ...base,
    ...(patterns[0] && { pattern: patterns[0].source }),
    ...(maxLength !== undefined && { maxLength }),
    ...(more.length > 0 && { allOf: more }),
    ...(def.default !== undefined && { default: def.default }),
  }
}

function conditionSchema(c: Condition): JsonSchema {
  const values = c.in ? { enum: c.in } : { not: { enum: c.notIn ?? [] } }
  return {
    if: { required: [c.field], properties: { [c.field]: values } },
    then: {
      ...(c.then.required && { required: c.then.required }),
      // `false`: the field may not be there.
      ...(c.then.absent && { properties: Object.fromEntries(c.then.absent.map((f) => [f, false])) }),
    },
    ...(c.else?.required && { else: { required: c.else.required } }),
  }
}

function objectSchema(def: ObjectField): JsonSchema {
  const entries = Object.entries(def.fields)
  const required = entries.filter(([, f]) => f.required !== undefined).map(([name]) => name)
  const conditions = (def.conditions ?? []).map(conditionSchema)
  return {
    description: def.description,
    type: 'object',
    properties: Object.fromEntries(entries.map(([name, f]) => [name, fieldSchema(f)])),
    ...(required.length > 0 && { required }),
    additionalProperties: false,
    ...(conditions.length === 1 ? conditions[0] : conditions.length > 1 && { allOf: conditions }),
  }
}

const smallest = (...bounds: (number | undefined)[]) => {
  const set = bounds.filter((b): b is number => b !== undefined)
  return set.length > 0 ? { value: Math.min(...set) } : undefined
}

/** One field's schema. */
export function fieldSchema(def: FieldDef): JsonSchema {
  switch (def.type) {
    case 'integer':
      return {
        description: def.description,
        type: 'integer',
        minimum: def.min,
        maximum: def.max,
        ...(def.default !== undefined && { default: def.default }),
      }
    case 'string':
      return stringSchema(def)
    case 'boolean':
      return { description: def.description, type: 'boolean' }
    case 'const':
      return { description: def.description, const: def.value }
    case 'enum':
      return {
        description: def.description,
        enum: def.values,
        ...(def.default !== undefined && { default: def.default }),
      }
    case 'list': {
      const maxItems = smallest(def.maxItems, def.rendered?.maxItems)
      return {
        description: def.description,
        type: 'array',
        items: fieldSchema(def.items),
        ...(def.nonEmpty !== undefined && { minItems: 1 }),
        ...(maxItems && { maxItems: maxItems.value }),
        ...(def.rendered?.uniqueItems && { uniqueItems: true }),
      }
    }
    case 'object':
      return objectSchema(def)
    case 'map': {
      const maxProperties = smallest(def.maxEntries?.count, def.rendered?.maxEntries)
      return {
        description: def.description,
        type: 'object',
        ...(def.rendered?.keyPattern && { propertyNames: { pattern: def.rendered.keyPattern.source } }),
        additionalProperties: fieldSchema(def.values),
        ...(maxProperties && { maxProperties: maxProperties.value }),
      }
    }
    case 'anyOf':
      return {
        description: def.description,
        anyOf: def.options.map(fieldSchema),
        ...(def.default !== undefined && { default: def.default }),
      }
  }
}

const KINDS = [WASM_SERVICE_DOCUMENT, VM_DOCUMENT].map((d) => d.fields.kind.value)

const DESCRIPTION = [
  `An app document of Lean Cloud, stored under the apps prefix in Consul KV (the app's name is its key). Two kinds, told apart by "kind": ${KINDS.map((k) => JSON.stringify(k)).join(' and ')}.`,
  'Generated from the validator\'s field table (jobs/document-fields.ts) by "npm run gen:schema"; do not edit.',
  'A document this schema refuses is refused by the validator too; one it accepts may still be refused for a rule no JSON Schema can state:',
  ...RULES_BEYOND_SCHEMA.map((r) => `- ${r.id} (${r.fields.join(', ')}): ${r.rule}`),
].join('\n')

/** The schema of both kinds of app document. */
export function appDocumentSchema(): JsonSchema {
  return {
    $schema: DRAFT,
    title: 'Lean Cloud app document',
    description: DESCRIPTION,
    type: 'object',
    required: ['kind'],
    properties: {
      kind: { description: 'The kind of app: a WebAssembly service or virtual machines.', enum: KINDS },
    },
    oneOf: [ref('wasm-service'), ref('vm')],
    $defs: {
      'wasm-service': fieldSchema(WASM_SERVICE_DOCUMENT),
      vm: fieldSchema(VM_DOCUMENT),
      ...SHARED_DEFS,
    },
  }
}

/** The published file's text: the schema, two-space indented, ending in a newline. */
export function appDocumentSchemaText(): string {
  return `${JSON.stringify(appDocumentSchema(), null, 2)}\n`
}
