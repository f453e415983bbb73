// The controller's configuration: defaults, Consul's and Nomad's own
// variables, and a clear error naming the variable for each bad value.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ControllerConfigError, loadControllerConfig } from '../../../controller/config.ts'

test('defaults', () => {
  const c = loadControllerConfig({})
  assert.equal(c.consulAddr, 'http://127.0.0.1:8500')
  assert.equal(c.nomadAddr, 'http://127.0.0.1:4646')
  assert.equal(c.appsPrefix, 'lean-cloud/apps/')
  assert.equal(c.statusPrefix, 'lean-cloud/status/')
  assert.equal(c.leaderKey, 'lean-cloud/leader')
  assert.equal(c.lockDelay, '5s')
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 4680 })
  assert.match(c.instanceId, /^[A-Za-z0-9-]+$/)
})

test('honours CONSUL_HTTP_ADDR without a scheme, tokens and the listen address', () => {
  const c = loadControllerConfig({
    CONSUL_HTTP_ADDR: '10.0.0.5:8500',
    CONSUL_HTTP_TOKEN: 't',
    NOMAD_TOKEN: 'n',
    LEAN_CONTROLLER_HTTP_ADDR: '0.0.0.0:0',
  })
  assert.equal(c.consulAddr, 'http://10.0.0.5:8500')
  assert.equal(c.consulToken, 't')
  assert.equal(c.nomadToken, 'n')
  assert.deepEqual(c.http, { host: '0.0.0.0', port: 0 })
})

test('each bad value is refused, naming the variable', () => {
  const bad: Array<[Record<string, string>, string]> = [
    [{ LEAN_CONTROLLER_WORKERS: '0' }, 'LEAN_CONTROLLER_WORKERS'],
    [{ LEAN_APPS_PREFIX: 'apps' }, 'LEAN_APPS_PREFIX'],
    [{ LEAN_STATUS_PREFIX: 'lean-cloud/apps/st/' }, 'LEAN_STATUS_PREFIX'],
    [{ LEAN_LEADER_KEY: 'lean-cloud/apps/leader' }, 'LEAN_LEADER_KEY'],
    [{ LEAN_LEADER_KEY: 'lean-cloud/' }, 'LEAN_LEADER_KEY'],
    [{ LEAN_LOCK_DELAY: 'soon' }, 'LEAN_LOCK_DELAY'],
    [{ LEAN_LOCK_DELAY: '61s' }, 'LEAN_LOCK_DELAY'],
    [{ LEAN_CONTROLLER_HTTP_ADDR: 'localhost' }, 'LEAN_CONTROLLER_HTTP_ADDR'],
    [{ LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:70000' }, 'LEAN_CONTROLLER_HTTP_ADDR'],
  ]
  for (const [env, name] of bad) {
    assert.throws(
      () => loadControllerConfig(env),
      (err: unknown) => err instanceof ControllerConfigError && err.message.startsWith(`${name}:`),
      JSON.stringify(env),
    )
  }
})

test('S3 for the image endpoints: all three variables, or none', () => {
  assert.equal(loadControllerConfig({}).s3, undefined)
  const keys = { S3_PUBLISHER_ACCESS_KEY: 'pub', S3_PUBLISHER_SECRET_KEY: 'secret' }
  const c = loadControllerConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000', ...keys, S3_ACCESS_KEY: 'admin' })
  assert.deepEqual(c.s3, {
    endpoint: 'http://127.0.0.1:9000',
    accessKey: 'pub',
    secretKey: 'secret',
    region: 'us-east-1',
  })
  assert.ok(Object.isFrozen(c.s3))
  assert.equal(
    loadControllerConfig({ S3_ENDPOINT: 'https://s3.example', ...keys, S3_REGION: 'eu-west-1' }).s3?.region,
    'eu-west-1',
  )
  // The local cloud's S3 speaks HTTPS with its own CA: S3_CACERT names it (this file stands in for a PEM).
  const caFile = fileURLToPath(import.meta.url)
  assert.equal(loadControllerConfig({ S3_ENDPOINT: 'https://127.0.0.1:9000', ...keys, S3_CACERT: caFile }).s3?.caFile, caFile)
  const bad: Array<[Record<string, string>, RegExp]> = [
    [
      { S3_ENDPOINT: 'http://127.0.0.1:9000' },
      /^S3_PUBLISHER_ACCESS_KEY, S3_PUBLISHER_SECRET_KEY: required with S3_ENDPOINT/,
    ],
    [{ ...keys }, /^S3_ENDPOINT: required with S3_PUBLISHER_ACCESS_KEY, S3_PUBLISHER_SECRET_KEY/],
    [
      { S3_ENDPOINT: '127.0.0.1:9000', ...keys },
      /^S3_ENDPOINT: expected http\(s\):\/\/host\[:port\], got 127\.0\.0\.1:9000/,
    ],
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000/bucket', ...keys }, /^S3_ENDPOINT: expected http/],
    [
      { S3_ENDPOINT: 'http://127.0.0.1:9000', ...keys, S3_REGION: 'Moon Base' },
      /^S3_REGION: expected a region name/,
    ],
    [{ S3_ENDPOINT: 'https://127.0.0.1:9000', ...keys, S3_CACERT: '/no/such/ca.pem' }, /^S3_CACERT: no such file: \/no\/such\/ca\.pem/],
  ]
  for (const [env, message] of bad) {
    assert.throws(
      () => loadControllerConfig(env),
      (err: unknown) => err instanceof ControllerConfigError && message.test(err.message),
      JSON.stringify(env),
    )
  }
})

test('image limits: LEAN_IMAGE_MAX_FILE_SIZE and LEAN_IMAGE_MAX_DISK_SIZE, with safe defaults', () => {
  assert.deepEqual(loadControllerConfig({}).images, {
    maxFileBytes: 8 * 1024 ** 3,
    maxDiskBytes: 64 * 1024 ** 3,
  })
  assert.deepEqual(
    loadControllerConfig({ LEAN_IMAGE_MAX_FILE_SIZE: '512MiB', LEAN_IMAGE_MAX_DISK_SIZE: '10GiB' }).images,
    {
      maxFileBytes: 512 * 1024 ** 2,
      maxDiskBytes: 10 * 1024 ** 3,
    },
  )
  for (const name of ['LEAN_IMAGE_MAX_FILE_SIZE', 'LEAN_IMAGE_MAX_DISK_SIZE'])
    assert.throws(
      () => loadControllerConfig({ [name]: 'lots' }),
      (err: unknown) =>
        err instanceof ControllerConfigError && err.message.startsWith(`${name}: expected a size`),
    )
})

test('component uploads: LEAN_COMPONENT_MAX_SIZE, 64MiB by default', () => {
  assert.deepEqual(loadControllerConfig({}).components, { maxBytes: 64 * 1024 ** 2 })
  assert.deepEqual(loadControllerConfig({ LEAN_COMPONENT_MAX_SIZE: '128MiB' }).components, { maxBytes: 128 * 1024 ** 2 })
  assert.throws(
    () => loadControllerConfig({ LEAN_COMPONENT_MAX_SIZE: 'lots' }),
    (err: unknown) => err instanceof ControllerConfigError && err.message.startsWith('LEAN_COMPONENT_MAX_SIZE: expected a size'),
  )
})

test('app ceilings: LEAN_LIMIT_* override safe defaults; the vCPU default is at most this host has', () => {
  const defaults = loadControllerConfig({}).appLimits
  assert.ok(defaults.maxVmVcpus >= 1 && defaults.maxVmVcpus <= 4)
  assert.equal(defaults.maxRequestBodyBytes, 64 * 1024 ** 2)
  assert.deepEqual(
    loadControllerConfig({ LEAN_LIMIT_REQUEST_BODY: '8MiB', LEAN_LIMIT_VM_VCPUS: '16', LEAN_LIMIT_VM_MEMORY: '32GiB', LEAN_LIMIT_VM_DISK: '1TiB' }).appLimits,
    { maxRequestBodyBytes: 8 * 1024 ** 2, maxVmVcpus: 16, maxVmMemoryBytes: 32 * 1024 ** 3, maxVmDiskBytes: 1024 ** 4 },
  )
  for (const [name, value] of [['LEAN_LIMIT_VM_VCPUS', '0'], ['LEAN_LIMIT_VM_DISK', 'big']] as const)
    assert.throws(
      () => loadControllerConfig({ [name]: value }),
      (err: unknown) => err instanceof ControllerConfigError && err.message.startsWith(`${name}: expected`),
    )
})
