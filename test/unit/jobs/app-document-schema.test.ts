// The app documents' JSON Schema: the checked-in file is what the generator
// makes from the validator's field table now, and the schema agrees with the
// validator on every example document of the validator's own tests. Where
// the validator checks a rule no JSON Schema can state (RULES_BEYOND_SCHEMA),
// only that direction is checked: what the schema refuses, the validator
// refuses too.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import {
  APP_DOCUMENT_SCHEMA_FILE,
  appDocumentSchema,
  appDocumentSchemaText,
} from '../../../jobs/app-document-schema.ts'
import { parseAppSpec, SpecError } from '../../../jobs/app-spec.ts'
import { RULES_BEYOND_SCHEMA } from '../../../jobs/document-fields.ts'
import { ACCEPTED, REFUSED, type Example } from './app-document-examples.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
// Strict: unknown keywords, formats or types are errors. strictRequired would
// also ask a condition's `then` to define the fields it requires, which its object does.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true })
const schemaValidates = ajv.compile(appDocumentSchema())

const textOf = (doc: unknown) => (typeof doc === 'string' ? doc : JSON.stringify(doc))

/** The validator's refusal, or undefined when it accepts. */
function validatorRefusal(e: Example): string | undefined {
  try {
    parseAppSpec(e.name, textOf(e.doc), e.limits)
    return undefined
  } catch (err) {
    assert.ok(err instanceof SpecError, `${e.name}: ${(err as Error).message}`)
    return err.message
  }
}

/** The schema's refusal, or undefined when it accepts. Text that is not JSON is no instance of any schema. */
function schemaRefusal(e: Example): string | undefined {
  let value: unknown
  try {
    value = JSON.parse(textOf(e.doc))
  } catch {
    return 'not JSON'
  }
  return schemaValidates(value) ? undefined : ajv.errorsText(schemaValidates.errors)
}

const shown = (e: Example) => `${e.name}: ${textOf(e.doc).slice(0, 300)}`

test('the checked-in schema is what the generator makes from the field table now', async () => {
  const file = await readFile(path.join(root, APP_DOCUMENT_SCHEMA_FILE), 'utf8')
  assert.equal(file, appDocumentSchemaText(), `${APP_DOCUMENT_SCHEMA_FILE} is stale: run npm run gen:schema`)
  const schema = JSON.parse(file) as { $schema: string; oneOf: unknown[] }
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  assert.equal(schema.oneOf.length, 2, 'one branch per kind')
})

test('every example document the validator accepts, the schema accepts', () => {
  assert.ok(ACCEPTED.length >= 30, `only ${ACCEPTED.length} examples`)
  for (const e of ACCEPTED) {
    assert.equal(validatorRefusal(e), undefined, shown(e))
    assert.equal(schemaRefusal(e), undefined, shown(e))
  }
})

test('every example document the validator refuses, the schema refuses, unless for a rule beyond any schema', () => {
  assert.ok(REFUSED.length >= 100, `only ${REFUSED.length} examples`)
  const rules = new Set<string>(RULES_BEYOND_SCHEMA.map((r) => r.id))
  for (const e of REFUSED) {
    assert.notEqual(validatorRefusal(e), undefined, shown(e))
    if (e.beyondSchema === undefined)
      assert.notEqual(schemaRefusal(e), undefined, `the schema accepts ${shown(e)}`)
    // Else only schema-refused ⇒ validator-refused holds, and the validator refused it above.
    else assert.ok(rules.has(e.beyondSchema), `${e.beyondSchema} is not a rule the schema lists`)
  }
})

test('the schema refuses what the validator refuses for each field, in both kinds', () => {
  // A few refusals by type and range that no example spells out, one per kind of field.
  const sha256 = 'ab'.repeat(32)
  const wasm = { kind: 'wasm-service', component: { sha256 } }
  const vm = { kind: 'vm', image: { sha256 } }
  const refused: Example[] = [
    { name: 'x', doc: {} },
    { name: 'x', doc: { ...wasm, kind: undefined } },
    { name: 'x', doc: { ...wasm, component: undefined } },
    { name: 'x', doc: { ...wasm, port: 'fixed' } },
    { name: 'x', doc: { ...wasm, port: { static: 80, dynamic: true } } },
    { name: 'x', doc: { ...wasm, instances: 0 } },
    { name: 'x', doc: { ...wasm, resources: { cpu: 100 } } },
    { name: 'x', doc: { ...wasm, env: null } },
    { name: 'x', doc: { ...wasm, env: { A: 1 } } },
    {
      name: 'x',
      doc: { ...wasm, env: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, ''])) },
    },
    { name: 'x', doc: { ...wasm, grants: { requestLog: 'yes' } } },
    { name: 'x', doc: { ...wasm, grants: { outbound: ['ftp://example.com'] } } },
    { name: 'x', doc: { ...wasm, grants: { buckets: ['B'] } } },
    { name: 'x', doc: { ...wasm, constraints: [{ attribute: 'attr.x', operator: null, value: 'a' }] } },
    { name: 'x', doc: { ...wasm, constraints: ['constructor'] } },
    { name: 'x', doc: { ...vm, ports: null } },
    {
      name: 'x',
      doc: { ...vm, ports: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, 1000 + i])) },
    },
    { name: 'x', doc: { ...vm, cloudInit: { sshAuthorizedKeys: ['not a key'] } } },
    { name: 'x', doc: { ...vm, cloudInit: { commands: ['  '] } } },
    { name: 'x', doc: { ...vm, state: null } },
    { name: 'x', doc: { ...vm, ports: { http: 80 }, service: { port: 'http' }, ingress: { host: 'web-' } } },
  ]
  for (const e of refused) {
    assert.notEqual(validatorRefusal(e), undefined, shown(e))
    assert.notEqual(schemaRefusal(e), undefined, `the schema accepts ${shown(e)}`)
  }
})

test('the rules beyond the schema are in its description and in docs/controller.md', async () => {
  const description = (appDocumentSchema() as { description: string }).description
  const docs = await readFile(path.join(root, 'docs/controller.md'), 'utf8')
  for (const { id, rule } of RULES_BEYOND_SCHEMA) {
    assert.ok(description.includes(`- ${id} (`) && description.includes(rule), id)
    assert.ok(docs.includes(`\`${id}\``), `docs/controller.md does not list ${id}`)
  }
})
