import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SpecError, META_APPS_PREFIX, META_OWNER, META_SPEC_HASH, OWNER, ownedBy, parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'

const sha256 = 'cd'.repeat(32)
const valid = {
  kind: 'wasm-service',
  component: { sha256 },
  count: 3,
  port: 'dynamic',
  grants: { buckets: ['cloud-pdfs'], mail: ['example.com'] },
}

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
  assert.match(problem('x', '{nope'), /^\$: not valid JSON/)
  assert.match(problem('x', []), /^\$: expected an object/)
  assert.match(
    problem('x', { ...valid, kind: 'container' }),
    /^kind: expected "wasm-service", got "container"/,
  )
  assert.match(problem('x', { ...valid, count: '3' }), /^count: expected a whole number from 0 to 1000/)
  assert.match(problem('x', { ...valid, count: 1e9 }), /^count: expected a whole number/)
  assert.match(problem('x', { ...valid, colour: 'red' }), /^colour: unknown field/)
  assert.match(
    problem('x', { ...valid, component: { sha256: 'abc' } }),
    /^component\.sha256: expected 64 lower-case/,
  )
  assert.match(
    problem('x', { ...valid, port: { static: 70000 } }),
    /^port\.static: expected a whole number from 1 to 65535/,
  )
  assert.match(
    problem('x', { ...valid, limits: { requestTimeout: 'soon' } }),
    /^limits\.requestTimeout: expected a duration/,
  )
  assert.match(
    problem('x', { ...valid, env: { 'BAD-NAME': 'v' } }),
    /^env\.BAD-NAME: not a valid variable name/,
  )
  assert.match(problem('Bad_Name', valid), /^name: /)
  assert.match(
    problem('x', { ...valid, env: { A: 'x'.repeat(70_000) } }),
    /^\$: document of \d+ bytes is over the limit/,
  )
})

test('rendered jobs carry the owner mark and a hash that changes with the spec', () => {
  const a = renderAppJob(parseAppSpec('email', JSON.stringify(valid)))
  const b = renderAppJob(parseAppSpec('email', JSON.stringify({ ...valid, count: 4 })))
  assert.equal(a.Meta[META_OWNER], OWNER)
  assert.match(a.Meta[META_SPEC_HASH]!, /^[0-9a-f]{64}$/)
  assert.notEqual(a.Meta[META_SPEC_HASH], b.Meta[META_SPEC_HASH])
  assert.equal(
    renderAppJob(parseAppSpec('email', JSON.stringify(valid))).Meta[META_SPEC_HASH],
    a.Meta[META_SPEC_HASH],
  )
})

test('a vm document becomes a vm spec; without an image it is refused naming image', () => {
  const app = parseAppSpec('web', JSON.stringify({ kind: 'vm', image: { sha256 }, vcpus: 2 }))
  assert.equal(app.kind, 'vm')
  assert.equal(app.kind === 'vm' && app.vm.vcpus, 2)
  assert.equal(renderAppJob(app).TaskGroups[0]!.Tasks[0]!.Driver, 'virt')
  assert.match(problem('web', { kind: 'vm' }), /^image: required/)
  assert.match(
    problem('web', { kind: 'vm', image: { sha256 }, component: { sha256 } }),
    /^component: unknown field/,
  )
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
  const doc = {
    ...valid,
    component: { sha256, source: 'https://components.example.com/${attr.unique.hostname}.wasm' },
    env: {
      HOST: '${attr.unique.hostname}',
      TOKEN: '${NOMAD_TOKEN}',
      TEMPLATE: '%{ if true }x%{ endif }',
      PEM: 'line one\nline two\n',
    },
  }
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

  assert.match(
    problem('x', { ...valid, env: { A: 'nul\u0000here' } }),
    /^env\.A: contains the control character U\+0000 at offset 3/,
  )
  assert.match(
    problem('x', { ...valid, env: { A: 'bell\u0007' } }),
    /^env\.A: contains the control character U\+0007/,
  )
  assert.match(
    problem('x', { ...valid, env: { A: 'c1\u0085' } }),
    /^env\.A: contains the control character U\+0085/,
  )
  assert.match(
    problem('x', { ...valid, component: { sha256, source: '/opt/x\u0000.wasm' } }),
    /^component\.source: contains the control character U\+0000/,
  )
  assert.match(
    problem('x', { ...valid, service: { checkPath: '/${NOMAD_TOKEN}' } }),
    /^service\.checkPath: expected a path starting with \//,
  )
})

test('a nested key below the apps prefix is no app, and its status says why', () => {
  assert.match(
    problem('team/pdf', valid),
    /^name: a key below the apps prefix names one app, with no further "\/": "team\/pdf" is nested/,
  )
})

test('component.source: the artifacts object of its own sha256, an http(s) URL or an absolute path; nothing else', () => {
  const source = (value: string) => ({ ...valid, component: { sha256, source: value } })
  for (const ok of [
    `s3://artifacts/components/${sha256}.wasm`,
    'https://components.example.com/hello.wasm',
    'http://components.example.com:8080/c/hello.wasm?v=1',
    '/srv/components/hello.wasm',
  ]) {
    const app = parseAppSpec('ok', JSON.stringify(source(ok)))
    assert.ok(app.kind === 'wasm-service')
    assert.equal(app.service.component.source, ok, "whether a path or host is allowed is the node's decision")
  }
  const refusals: Array<[string, RegExp]> = [
    [
      `s3://artifacts/components/${'ef'.repeat(32)}.wasm`,
      /only s3:\/\/artifacts\/components\/(cd){32}\.wasm/,
    ],
    [`s3://other-bucket/components/${sha256}.wasm`, /the artifacts object named by the component's sha256/],
    ['s3://artifacts/hello.wasm', /may be fetched from S3/],
    ['/srv/components/../../etc/hostname', /no \., \.\. or empty segments/],
    ['/srv//hello.wasm', /no \., \.\. or empty segments/],
    ['/srv/components/', /a file/],
    [
      'relative/hello.wasm',
      /expected s3:\/\/artifacts\/components\/(cd){32}\.wasm, an http\(s\):\/\/ URL or an absolute path/,
    ],
    ['file:///etc/hostname', /expected s3:\/\/artifacts/],
    ['ftp://example.com/c.wasm', /expected s3:\/\/artifacts/],
    ['https://user:secret@example.com/c.wasm', /credentials/],
    ['http://[zz]/c.wasm', /not a valid http\(s\) URL/],
    ['/srv/hello world.wasm', /white space/],
  ]
  for (const [value, reason] of refusals) {
    const message = problem('x', source(value))
    assert.match(message, /^component\.source: /, value)
    assert.match(message, reason, value)
  }
})

test("the cloud's own names are no app's: reserved service names and ingress hosts are refused, naming the field", () => {
  for (const name of ['consul', 'nomad', 'lean-controller', 'lean-ingress']) {
    assert.match(problem('x', { ...valid, service: { name } }), new RegExp(`^service\\.name: "${name}" is reserved for the cloud's own services`))
    assert.match(problem('x', { ...valid, ingress: { host: name } }), new RegExp(`^ingress\\.host: "${name}" is reserved`))
  }
  // An app named like a reserved name takes it as its default service name: refused too.
  assert.match(problem('consul', valid), /^service\.name: "consul" is reserved/)
  assert.match(
    problem('x', { kind: 'vm', image: { sha256 }, ports: { http: 80 }, service: { name: 'nomad', port: 'http' } }),
    /^service\.name: "nomad" is reserved/,
  )
})

test("values within the validator's ranges but over the cloud's ceilings are refused, naming the field, the ceiling and its variable", () => {
  const limits = { maxRequestBodyBytes: 1024 ** 2, maxVmVcpus: 2, maxVmMemoryBytes: 1024 ** 3, maxVmDiskBytes: 10 * 1024 ** 3 }
  const refused = (doc: object) => {
    try {
      parseAppSpec('x', JSON.stringify(doc), limits)
    } catch (err) {
      assert.ok(err instanceof SpecError)
      return err.message
    }
    return assert.fail('expected a refusal')
  }
  assert.equal(refused({ ...valid, limits: { maxRequestBody: '8GiB' } }), "limits.maxRequestBody: 8GiB is over this cloud's ceiling of 1048576 (LEAN_LIMIT_REQUEST_BODY)")
  const vm = { kind: 'vm', image: { sha256 } }
  assert.match(refused({ ...vm, vcpus: 64 }), /^vcpus: 64 vCPUs is over this cloud's ceiling of 2 \(LEAN_LIMIT_VM_VCPUS\)/)
  assert.match(refused({ ...vm, memory: '999999GiB' }), /^memory: /)
  assert.match(refused({ ...vm, memory: '4GiB' }), /^memory: 4GiB is over this cloud's ceiling of 1073741824 \(LEAN_LIMIT_VM_MEMORY\)/)
  assert.match(refused({ ...vm, disk: { size: '64TiB' } }), /^disk\.size: .*LEAN_LIMIT_VM_DISK|^disk\.size: expected/)
  assert.equal(parseAppSpec('x', JSON.stringify({ ...vm, vcpus: 2, memory: '1GiB', disk: { size: '10GiB' } }), limits).kind, 'vm')
})

test('grants.mail names whom an app may mail; true, which would be anyone, is refused', () => {
  assert.match(problem('x', { ...valid, grants: { mail: true } }), /^grants\.mail: name the recipients or domains this app may mail/)
  assert.match(problem('x', { ...valid, grants: { mail: ['not an address'] } }), /^grants\.mail\[0\]: "not an address" is not an e-mail address or a domain/)
  const app = parseAppSpec('x', JSON.stringify({ ...valid, grants: { mail: false } }))
  assert.ok(app.kind === 'wasm-service' && app.service.grants?.mail === undefined)
})

test('grants.outbound: each entry checked by the one grammar, normalised into the job; grants.services says what replaced it', () => {
  const doc = { ...valid, grants: { outbound: ['http://email.service.consul', 'https://API.example.com:8443/'] } }
  const app = parseAppSpec('caller', JSON.stringify(doc))
  assert.equal(app.kind, 'wasm-service')
  const config = renderAppJob(app).TaskGroups[0]!.Tasks[0]!.Config as { grants: Array<{ outbound: string[] }> }
  assert.deepEqual(config.grants[0]!.outbound, ['http://email.service.consul', 'https://api.example.com:8443'])
  assert.match(problem('caller', { ...valid, grants: { outbound: ['http://169.254.169.254'] } }), /^grants\.outbound\[0\]: 169\.254\.169\.254 is the node itself or a link-local address/)
  assert.match(problem('caller', { ...valid, grants: { outbound: ['http://a.example', 'http://A.example/'] } }), /^grants\.outbound\[1\]: http:\/\/a\.example is granted twice/)
  assert.match(problem('caller', { ...valid, grants: { outbound: 'http://a.example' } }), /^grants\.outbound: /)
  assert.match(problem('caller', { ...valid, grants: { services: ['email'] } }), /^grants\.services: replaced by grants\.outbound: grant "http:\/\/<name>\.service\.consul"/)
})
