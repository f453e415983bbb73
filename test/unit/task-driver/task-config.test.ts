import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode } from '@msgpack/msgpack'
import { decodeCtyMsgpack } from '../../../task-driver/kit/cty-msgpack.ts'
import { NO_APP, outboxServices, parseTaskConfig, taskConfigSpec } from '../../../task-driver/wasm/task-config.ts'
import { parseSize } from '../../../ground/units.ts'

const digest = 'a'.repeat(64)
const minimal = { component: `s3://artifacts/components/${digest}.wasm`, sha256: digest, port: 'http' }

test('defaults fill everything but the two required options', () => {
  const c = parseTaskConfig({ sha256: digest, port: 'http' })
  assert.equal(c.component, `s3://artifacts/components/${digest}.wasm`, 'the artifacts object of its digest')
  assert.equal(c.instances, 4)
  assert.equal(c.requestTimeoutMs, 30_000)
  assert.equal(c.maxRequestBodyBytes, 1024 * 1024)
  assert.deepEqual(c.args, [])
})

test('each bad option is named with the reason', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...minimal, sha256: 'abc' }, /sha256: expected 64 hexadecimal characters/],
    [
      { ...minimal, component: 'hello.wasm' },
      /component: "hello\.wasm": expected s3:\/\/artifacts\/components\//,
    ],
    [
      { ...minimal, component: 's3://artifacts/hello.wasm' },
      /component: .*only s3:\/\/artifacts\/components\/a{64}\.wasm/,
    ],
    [
      { ...minimal, component: `s3://other/components/${digest}.wasm` },
      /component: .*may be fetched from S3/,
    ],
    [{ ...minimal, component: '/srv/../etc/hostname' }, /component: .*no \., \.\. or empty segments/],
    [{ ...minimal, component: 'http://user:pw@example.com/c.wasm' }, /component: .*credentials/],
    [{ ...minimal, instances: 0 }, /instances: expected a whole number from 1 to 1024/],
    [{ ...minimal, engine: 'v8' }, /engine: only "wasmtime" is available .*got "v8"/],
    [{ ...minimal, engine: 'node' }, /engine: only "wasmtime" is available \(the node engine was removed\); remove the attribute or set it to "wasmtime", got "node"/],
    [{ ...minimal, request_timeout: 'soon' }, /request_timeout: expected a duration/],
    [{ ...minimal, max_request_body: '1 parsec' }, /max_request_body: expected a size/],
    [{ ...minimal, env: { A: 1 } }, /env\.A: expected a string/],
    [{ ...minimal, colour: 'red' }, /colour: unknown option/],
    [{ ...minimal, app: 'Shop_1' }, /app: expected an app name/],
    [{ ...minimal, app: '' }, /app: expected an app name/],
    [{ sha256: digest }, /port: is required/],
  ]
  for (const [raw, message] of cases) {
    assert.throws(
      () => parseTaskConfig(raw),
      (err: Error & { code?: string }) => err.code === 'LEAN_ERR_DRIVER_CONFIG' && message.test(err.message),
    )
  }
})

test('a job written when there was a choice of engine still runs if it names "wasmtime"', () => {
  assert.deepEqual(parseTaskConfig({ ...minimal, engine: 'wasmtime' }), parseTaskConfig(minimal))
})

test("the task's app: its name, or none (a job that names none reaches no rows)", () => {
  assert.equal(parseTaskConfig({ ...minimal, app: 'shop' }).app, 'shop')
  assert.equal(parseTaskConfig(minimal).app, NO_APP)
  assert.equal(NO_APP, '', 'a name no app has')
})

test('env arrives as a map or, from a jobspec, as a list of maps', () => {
  assert.deepEqual(parseTaskConfig({ ...minimal, env: { A: 'x' } }).env, { A: 'x' })
  assert.deepEqual(parseTaskConfig({ ...minimal, env: [{ A: 'x' }, { B: 'y' }] }).env, { A: 'x', B: 'y' })
  assert.throws(() => parseTaskConfig({ ...minimal, env: ['A=x'] }), /env: expected a map of strings/)
})

test('sizes accept binary and decimal units', () => {
  assert.equal(parseSize('512KiB'), 512 * 1024)
  assert.equal(parseSize('2MB'), 2_000_000)
  assert.equal(parseSize('4096'), 4096)
})

test('the schema declares every option parseTaskConfig accepts', () => {
  const keys = Object.keys((taskConfigSpec as { object: { attributes: object } }).object.attributes).sort()
  assert.deepEqual(keys, [
    'app',
    'args',
    'component',
    'engine',
    'env',
    'grants',
    'instance_memory',
    'instances',
    'max_request_body',
    'port',
    'request_timeout',
    'sha256',
  ])
})

test('go-cty MessagePack decodes to a plain object, nil for absent attributes', () => {
  // Keys sorted, absent optional attributes as nil: what go-cty emits.
  const bytes = encode({
    args: ['a'],
    component: '/srv/hello.wasm',
    env: null,
    instances: 2,
    port: 'http',
    sha256: digest,
  })
  const raw = decodeCtyMsgpack(bytes)
  assert.equal(raw.env, null)
  assert.equal(raw.instances, 2)
  const c = parseTaskConfig(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)))
  assert.equal(c.component, '/srv/hello.wasm')
  assert.deepEqual(c.args, ['a'])
})

test('an unknown cty value is refused with a clear error, and empty bytes mean no config', () => {
  // fixmap(1) "x" -> fixext1 type 0 (go-cty's unknown marker)
  const unknown = Uint8Array.from([0x81, 0xa1, 0x78, 0xd4, 0x00, 0x00])
  assert.throws(() => decodeCtyMsgpack(unknown), /unknown \(not yet computed\) value/)
  assert.deepEqual(decodeCtyMsgpack(new Uint8Array()), {})
})

test('grants default to nothing, accept a block or a one-block list, and name bad entries', () => {
  assert.deepEqual(parseTaskConfig(minimal).grants, {
    buckets: [],
    requestLog: false,
    outbound: [],
    mailTo: [],
  })
  const g = { buckets: ['cloud-pdfs'], request_log: true, outbound: ['http://email-service.service.consul', 'https://API.example.com:8443'], mail_to: ['example.com', 'ops@example.org'] }
  assert.deepEqual(parseTaskConfig({ ...minimal, grants: g }).grants, {
    buckets: ['cloud-pdfs'],
    requestLog: true,
    outbound: [
      { scheme: 'http', host: 'email-service.service.consul' },
      { scheme: 'https', host: 'api.example.com', port: 8443 },
    ],
    mailTo: ['example.com', 'ops@example.org'],
  })
  assert.deepEqual(outboxServices(parseTaskConfig({ ...minimal, grants: g }).grants), ['email-service'])
  assert.throws(() => parseTaskConfig({ ...minimal, grants: { outbound: ['http://127.0.0.1:8500'] } }), /grants\.outbound\[0\]: 127\.0\.0\.1 is the node itself or a link-local address/)
  assert.throws(() => parseTaskConfig({ ...minimal, grants: { services: ['email'] } }), /grants\.services: replaced by grants\.outbound/)
  // An earlier job's `mail = true` still decodes, and grants nobody.
  assert.deepEqual(parseTaskConfig({ ...minimal, grants: { mail: true } }).grants.mailTo, [])
  assert.throws(
    () => parseTaskConfig({ ...minimal, grants: { mail_to: ['Anyone'] } }),
    /grants\.mail_to: "Anyone" is not an e-mail address or a domain/,
  )
  assert.deepEqual(parseTaskConfig({ ...minimal, grants: [g] }).grants.buckets, ['cloud-pdfs'])
  assert.throws(
    () => parseTaskConfig({ ...minimal, grants: { buckets: ['Bad_Bucket'] } }),
    /grants\.buckets: "Bad_Bucket" is not a bucket name/,
  )
  assert.throws(() => parseTaskConfig({ ...minimal, grants: { smtp: true } }), /grants\.smtp: unknown option/)
  assert.throws(
    () => parseTaskConfig({ ...minimal, grants: { request_log: 'yes' } }),
    /grants\.request_log: expected true or false/,
  )
  assert.throws(
    () => parseTaskConfig({ ...minimal, grants: { mail: 1 } }),
    /grants\.mail: expected true or false/,
  )
})
