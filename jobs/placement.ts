// Where an app's allocations may go, in a document's own words, rendered to
// Nomad's: `spread: true` spreads them over the nodes, and `constraints`
// keep them to nodes whose attributes match (`"kvm"` is short for the virt
// driver having found KVM). Attributes and values have a grammar of their own,
// so nothing a document says is interpolated by Nomad.
import type { Constraint, Spread } from '../generated/nomad/types.ts'
import type {
  AnyOfField,
  BooleanField,
  EnumField,
  ListField,
  ObjectField,
  StringField,
} from './field-table.ts'
import { fail, readBool, readString, type Json } from './spec-fields.ts'

export type ConstraintOperator = '=' | '!=' | 'regexp' | 'version' | 'is_set' | 'is_not_set'

export interface PlacementConstraint {
  /** `attr.<name>`, `meta.<name>`, `node.class`, `node.datacenter` or `node.unique.name`. */
  readonly attribute: string
  readonly operator: ConstraintOperator
  /** Absent for is_set / is_not_set. */
  readonly value?: string
}

export interface Placement {
  readonly spread?: boolean
  readonly constraints?: readonly PlacementConstraint[]
}

const MAX_CONSTRAINTS = 8
const OPERATORS: readonly ConstraintOperator[] = ['=', '!=', 'regexp', 'version', 'is_set', 'is_not_set']
/** The operators that take no value. */
const VALUELESS: readonly ConstraintOperator[] = ['is_set', 'is_not_set']
const ATTRIBUTE = /^(attr|meta)\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$|^node\.(class|datacenter|unique\.name)$/
// Printable, and never `${` or `%{`: Nomad interpolates a constraint's targets.
const VALUE = /^(?!.*[$%]\{)[\x20-\x7e]{1,200}$/

/** The shorthands a constraint may be written as. */
const SHORTHANDS: Readonly<Record<string, PlacementConstraint>> = {
  kvm: { attribute: 'attr.driver.virt.accelerator', operator: '=', value: 'kvm' },
}

const attribute = {
  type: 'string',
  form: 'pattern',
  maxLength: 128,
  pattern: ATTRIBUTE,
  what: 'attr.<name>, meta.<name>, node.class, node.datacenter or node.unique.name',
  required: 'expected attr.<name>, meta.<name>, node.class, node.datacenter or node.unique.name',
  description:
    "The node attribute compared: attr.<name> (a fingerprinted attribute, e.g. attr.kernel.name), meta.<name> (the node's own meta), node.class, node.datacenter or node.unique.name.",
} as const satisfies StringField

/** A constraint written out: `{ attribute, operator, value }`. */
export const CONSTRAINT_FIELD = {
  type: 'object',
  description: 'Keeps the allocations to nodes whose attribute compares true with the value.',
  fields: {
    attribute,
    operator: {
      type: 'enum',
      values: OPERATORS,
      default: '=',
      description: `How the attribute is compared: ${OPERATORS.join(', ')}. is_set and is_not_set take no value.`,
    } satisfies EnumField,
    value: {
      type: 'string',
      form: 'pattern',
      pattern: VALUE,
      what: '1 to 200 printable characters, without "${" or "%{"',
      description:
        'What the attribute is compared with: 1 to 200 printable characters, never "${" or "%{" (Nomad would interpolate them). Required unless the operator is is_set or is_not_set, which take none.',
    } satisfies StringField,
  },
  // Absent, the operator is "=", which needs a value.
  conditions: [
    { field: 'operator', in: VALUELESS, then: { absent: ['value'] }, else: { required: ['value'] } },
  ],
} as const satisfies ObjectField

/** `spread` and `constraints`, the same in both kinds of document. */
export const PLACEMENT_FIELDS = {
  spread: {
    type: 'boolean',
    description:
      'true spreads the allocations evenly over the nodes (by ${node.unique.id}), so losing one node takes a share of them, not all.',
  } satisfies BooleanField,
  constraints: {
    type: 'list',
    maxItems: MAX_CONSTRAINTS,
    description: `Keeps the allocations to nodes whose attributes match, at most ${MAX_CONSTRAINTS}.`,
    items: {
      type: 'anyOf',
      description: `A constraint, or a shorthand: ${Object.keys(SHORTHANDS).join(', ')} (kvm: nodes where the virt driver found KVM).`,
      options: [
        {
          type: 'enum',
          values: Object.keys(SHORTHANDS),
          description: 'kvm: attr.driver.virt.accelerator = kvm.',
        } satisfies EnumField,
        CONSTRAINT_FIELD,
      ],
    } satisfies AnyOfField,
  } satisfies ListField,
} as const

function constraint(raw: unknown, field: string): PlacementConstraint {
  if (typeof raw === 'string') {
    // Own keys only: "constructor" is no shorthand.
    return (
      (Object.hasOwn(SHORTHANDS, raw) ? SHORTHANDS[raw] : undefined) ??
      fail(
        field,
        `expected an object { attribute, operator, value } or one of: ${Object.keys(SHORTHANDS).join(', ')}`,
      )
    )
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return fail(field, 'expected an object { attribute, operator, value }')
  const c = raw as Json
  const fields = CONSTRAINT_FIELD.fields
  for (const key of Object.keys(c)) if (!Object.hasOwn(fields, key)) fail(`${field}.${key}`, 'unknown field')
  const attribute = readString(fields.attribute, c.attribute, `${field}.attribute`)
  const operator = c.operator === undefined ? fields.operator.default : c.operator
  if (!OPERATORS.includes(operator as ConstraintOperator))
    fail(`${field}.operator`, `expected one of ${OPERATORS.join(', ')}`)
  const needsValue = !VALUELESS.includes(operator as ConstraintOperator)
  if (!needsValue && c.value !== undefined) fail(`${field}.value`, `${operator} takes no value`)
  const value = needsValue
    ? (readString(fields.value, c.value, `${field}.value`) ??
      fail(`${field}.value`, `expected ${fields.value.what}`))
    : undefined
  return { attribute, operator: operator as ConstraintOperator, ...(value !== undefined && { value }) }
}

/** A document's `spread` and `constraints`; undefined when it states neither. */
export function parsePlacement(spread: unknown, constraints: unknown): Placement | undefined {
  readBool(PLACEMENT_FIELDS.spread, spread, 'spread')
  let list: PlacementConstraint[] | undefined
  if (constraints !== undefined) {
    if (!Array.isArray(constraints)) return fail('constraints', 'expected a list')
    if (constraints.length > PLACEMENT_FIELDS.constraints.maxItems)
      fail('constraints', `at most ${PLACEMENT_FIELDS.constraints.maxItems}`)
    list = constraints.map((c, i) => constraint(c, `constraints[${i}]`))
  }
  if (spread === undefined && list === undefined) return undefined
  return { ...(typeof spread === 'boolean' && { spread }), ...(list && { constraints: list }) }
}

/** Nomad's Constraints and Spreads for a task group; nothing when the app states no placement. */
export function renderPlacement(placement: Placement | undefined): {
  Constraints?: Constraint[]
  Spreads?: Spread[]
} {
  const constraints = (placement?.constraints ?? []).map((c): Constraint => ({
    LTarget: `\${${c.attribute}}`,
    Operand: c.operator,
    ...(c.value !== undefined && { RTarget: c.value }),
  }))
  return {
    ...(constraints.length > 0 && { Constraints: constraints }),
    // Even over the nodes: the attribute alone, no targets.
    ...(placement?.spread && { Spreads: [{ Attribute: '${node.unique.id}', Weight: 100 }] }),
  }
}
