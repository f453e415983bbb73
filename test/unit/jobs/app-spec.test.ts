import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  SpecError,
  META_APPS_PREFIX,
  META_OWNER,
  META_SPEC_HASH,
  OWNER,
  ownedBy,
  parseAppSpec,
  renderAppJob,
} from '../../../jobs/app-spec.ts'
import { APP_SPEC } from './app-document-examples.ts'

const { valid } = APP_SPEC

function problem(name: string, doc: unknown): string {
  try {
    parseAppSpec(name, typeof doc === 'string' ? doc : JSON.stringify(doc))
  } catch (err) {
    assert.ok(err instanceof SpecError)
    return err.message
  }
  assert.fail('expected the document to be refused')
}

test('a valid document becomes a wasm service spec with defaults', () => {
  const app = parseAppSpec('email', JSON.stringify(valid))
  assert.ok(app.kind === 'wasm-service')
  assert.equal(app.service.count, 3)
  assert.deepEqual(app.service.service, { name: 'email', checkPath: '/health' })
  assert.deepEqual(app.service.grants, { buckets: ['cloud-pdfs'], mail: ['example.com'] })
})

test('every problem names the field and the reason', () => {
  for (const { name, doc, reason } of APP_SPEC.problems) assert.match(problem(name, doc), reason)
})

test('rendered jobs carry the owner mark and a hash that changes with the spec', () => {
  const a = renderAppJob(parseAppSpec('email', JSON.stringify(valid)))
  const b = renderAppJob(parseAppSpec('email', JSON.stringify(APP_SPEC.validCount4)))
  assert.equal(a.Meta[META_OWNER], OWNER)
  assert.match(a.Meta[META_SPEC_HASH]!, /^[0-9a-f]{64}$/)
  assert.notEqual(a.Meta[META_SPEC_HASH], b.Meta[META_SPEC_HASH])
  assert.equal(
    renderAppJob(parseAppSpec('email', JSON.stringify(valid))).Meta[META_SPEC_HASH],
    a.Meta[META_SPEC_HASH],
  )
})

test('a vm document becomes a vm spec; without an image it is refused naming image', () => {
  const app = parseAppSpec('web', JSON.stringify(APP_SPEC.vm))
  assert.equal(app.kind, 'vm')
  assert.equal(app.kind === 'vm' && app.vm.vcpus, 2)
  assert.equal(renderAppJob(app).TaskGroups[0]!.Tasks[0]!.Driver, 'virt')
  for (const { name, doc, reason } of APP_SPEC.vmProblems) assert.match(problem(name, doc), reason)
})

test('a job belongs to the controller of its apps prefix only (or, from before the prefix mark, to the one controller)', () => {
  const mark = { [META_OWNER]: OWNER }
  assert.equal(ownedBy({ ...mark, [META_APPS_PREFIX]: 'a/apps/' }, 'a/apps/'), true)
  assert.equal(
    ownedBy({ ...mark, [META_APPS_PREFIX]: 'a/apps/' }, 'b/apps/'),
    false,
    "another prefix's controller leaves it alone",
  )
  assert.equal(ownedBy(mark, 'b/apps/'), true, 'no prefix mark: a job from before it')
  assert.equal(ownedBy({ [META_APPS_PREFIX]: 'a/apps/' }, 'a/apps/'), false, 'no owner mark: not ours')
  assert.equal(ownedBy(undefined, 'a/apps/'), false)
})

test('values from a document land in the Nomad job as text: ${…} and %{…} escaped, control characters refused', () => {
  const doc = APP_SPEC.literal
  const job = renderAppJob(parseAppSpec('lit', JSON.stringify(doc)))
  const config = job.TaskGroups[0]!.Tasks[0]!.Config as { env: Record<string, string>; component: string }
  // Nomad reads $${ as ${ and %%{ as %{: the driver gets the document's bytes back.
  assert.deepEqual(config.env, {
    HOST: '$${attr.unique.hostname}',
    TOKEN: '$${NOMAD_TOKEN}',
    TEMPLATE: '%%{ if true }x%%{ endif }',
    PEM: 'line one\nline two\n',
  })
  assert.equal(config.component, 'https://components.example.com/$${attr.unique.hostname}.wasm')

  for (const { name, doc, reason } of APP_SPEC.controlCharacters) assert.match(problem(name, doc), reason)
})

test('a nested key below the apps prefix is no app, and its status says why', () => {
  const { name, doc, reason } = APP_SPEC.nested
  assert.match(problem(name, doc), reason)
})

test('component.source: the artifacts object of its own sha256, an http(s) URL or an absolute path; nothing else', () => {
  for (const { name, doc } of APP_SPEC.sources) {
    const app = parseAppSpec(name, JSON.stringify(doc))
    assert.ok(app.kind === 'wasm-service')
    assert.equal(
      app.service.component.source,
      (doc as { component: { source: string } }).component.source,
      "whether a path or host is allowed is the node's decision",
    )
  }
  for (const { value, name, doc, reason } of APP_SPEC.sourceRefusals) {
    const message = problem(name, doc)
    assert.match(message, /^component\.source: /, value)
    assert.match(message, reason, value)
  }
})

test("the cloud's own names are no app's: reserved service names and ingress hosts are refused, naming the field", () => {
  for (const { name, doc, reason } of APP_SPEC.reservedNames) assert.match(problem(name, doc), reason)
})

test("values within the validator's ranges but over the cloud's ceilings are refused, naming the field, the ceiling and its variable", () => {
  const refused = (name: string, doc: unknown) => {
    try {
      parseAppSpec(name, JSON.stringify(doc), APP_SPEC.ceilings)
    } catch (err) {
      assert.ok(err instanceof SpecError)
      return err.message
    }
    return assert.fail('expected a refusal')
  }
  for (const { name, doc, reason } of APP_SPEC.ceilingRefusals)
    if (typeof reason === 'string') assert.equal(refused(name, doc), reason)
    else assert.match(refused(name, doc), reason)
  const { name, doc, limits } = APP_SPEC.withinCeilings
  assert.equal(parseAppSpec(name, JSON.stringify(doc), limits).kind, 'vm')
})

test('grants.mail names whom an app may mail; true, which would be anyone, is refused', () => {
  for (const { name, doc, reason } of APP_SPEC.mail.refused) assert.match(problem(name, doc), reason)
  const app = parseAppSpec('x', JSON.stringify(APP_SPEC.mail.none))
  assert.ok(app.kind === 'wasm-service' && app.service.grants?.mail === undefined)
})

test('grants.outbound: each entry checked by the one grammar, normalised into the job; grants.services says what replaced it', () => {
  const app = parseAppSpec('caller', JSON.stringify(APP_SPEC.outbound.granted))
  assert.equal(app.kind, 'wasm-service')
  const config = renderAppJob(app).TaskGroups[0]!.Tasks[0]!.Config as {
    grants: Array<{ outbound: string[] }>
  }
  assert.deepEqual(config.grants[0]!.outbound, [
    'http://email.service.consul',
    'https://api.example.com:8443',
  ])
  for (const { name, doc, reason } of APP_SPEC.outbound.refused) assert.match(problem(name, doc), reason)
})
