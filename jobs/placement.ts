// Where an app's allocations may go, in a document's own words, rendered to
// Nomad's: `spread: true` spreads them over the nodes, and `constraints`
// keep them to nodes whose attributes match (`"kvm"` is short for the virt
// driver having found KVM). Attributes and values have a grammar of their own,
// so nothing a document says is interpolated by Nomad.
import type { Constraint, Spread } from '../generated/nomad/types.ts'
import { fail, type Json } from './spec-fields.ts'

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
const ATTRIBUTE = /^(attr|meta)\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$|^node\.(class|datacenter|unique\.name)$/
// Printable, and never `${` or `%{`: Nomad interpolates a constraint's targets.
const VALUE = /^(?!.*[$%]\{)[\x20-\x7e]{1,200}$/

/** The shorthands a constraint may be written as. */
const SHORTHANDS: Readonly<Record<string, PlacementConstraint>> = {
  kvm: { attribute: 'attr.driver.virt.accelerator', operator: '=', value: 'kvm' },
}

function constraint(raw: unknown, field: string): PlacementConstraint {
  if (typeof raw === 'string') {
    return SHORTHANDS[raw] ?? fail(field, `expected an object { attribute, operator, value } or one of: ${Object.keys(SHORTHANDS).join(', ')}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(field, 'expected an object { attribute, operator, value }')
  const c = raw as Json
  for (const key of Object.keys(c)) if (!['attribute', 'operator', 'value'].includes(key)) fail(`${field}.${key}`, 'unknown field')
  if (typeof c.attribute !== 'string' || c.attribute.length > 128 || !ATTRIBUTE.test(c.attribute))
    fail(`${field}.attribute`, 'expected attr.<name>, meta.<name>, node.class, node.datacenter or node.unique.name')
  const operator = (c.operator ?? '=') as ConstraintOperator
  if (!OPERATORS.includes(operator)) fail(`${field}.operator`, `expected one of ${OPERATORS.join(', ')}`)
  const needsValue = operator !== 'is_set' && operator !== 'is_not_set'
  if (!needsValue && c.value !== undefined) fail(`${field}.value`, `${operator} takes no value`)
  if (needsValue && (typeof c.value !== 'string' || !VALUE.test(c.value)))
    fail(`${field}.value`, 'expected 1 to 200 printable characters, without "${" or "%{"')
  return { attribute: c.attribute as string, operator, ...(needsValue && { value: c.value as string }) }
}

/** A document's `spread` and `constraints`; undefined when it states neither. */
export function parsePlacement(spread: unknown, constraints: unknown): Placement | undefined {
  if (spread !== undefined && typeof spread !== 'boolean') fail('spread', 'expected true or false')
  let list: PlacementConstraint[] | undefined
  if (constraints !== undefined) {
    if (!Array.isArray(constraints)) return fail('constraints', 'expected a list')
    if (constraints.length > MAX_CONSTRAINTS) fail('constraints', `at most ${MAX_CONSTRAINTS}`)
    list = constraints.map((c, i) => constraint(c, `constraints[${i}]`))
  }
  if (spread === undefined && list === undefined) return undefined
  return { ...(typeof spread === 'boolean' && { spread }), ...(list && { constraints: list }) }
}

/** Nomad's Constraints and Spreads for a task group; nothing when the app states no placement. */
export function renderPlacement(placement: Placement | undefined): { Constraints?: Constraint[]; Spreads?: Spread[] } {
  const constraints = (placement?.constraints ?? []).map(
    (c): Constraint => ({ LTarget: `\${${c.attribute}}`, Operand: c.operator, ...(c.value !== undefined && { RTarget: c.value }) }),
  )
  return {
    ...(constraints.length > 0 && { Constraints: constraints }),
    // Even over the nodes: the attribute alone, no targets.
    ...(placement?.spread && { Spreads: [{ Attribute: '${node.unique.id}', Weight: 100 }] }),
  }
}
