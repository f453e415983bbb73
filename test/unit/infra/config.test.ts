import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig, layout } from '../../../infra/cloud/config.ts'
import { ConfigError } from '../../../infra/cloud/errors.ts'

test('defaults give a loopback cloud with distinct ports', () => {
  const c = loadConfig({})
  assert.equal(c.host, '127.0.0.1')
  assert.equal(c.consul.dnsPort, 8600)
  assert.equal(c.nomad.httpPort, 4646)
  assert.equal(c.postgres.database, 'lean_cloud')
  assert.deepEqual(c.s3.buckets, ['artifacts', 'cloud-pdfs', 'cloud-scratch'])
  assert.equal(c.smtp.port, 2525)
  assert.equal(c.smtp.from, 'Lean Cloud <pdf@lean-cloud.localhost>')
  assert.equal(c.ingress.port, 8088)
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.consul), 'configuration is frozen')
  assert.match(layout(c).envFile, /cloud\.env$/)
  assert.equal(layout(c).maildir, `${c.dataDir}/maildir`)
})

test('the SMTP port can be moved, and is checked like the others', () => {
  assert.equal(loadConfig({ LEAN_CLOUD_SMTP_PORT: '2626' }).smtp.port, 2626)
  assert.throws(() => loadConfig({ LEAN_CLOUD_SMTP_PORT: 'smtp' }), (err: unknown) => err instanceof ConfigError && err.field === 'LEAN_CLOUD_SMTP_PORT')
  assert.throws(() => loadConfig({ LEAN_CLOUD_SMTP_PORT: '15432' }), /port 15432 is already used by postgres\.port/)
})

test('a bad port names the variable and the reason', () => {
  assert.throws(
    () => loadConfig({ LEAN_CLOUD_NOMAD_HTTP_PORT: 'http' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.code === 'LEAN_ERR_CLOUD_CONFIG' &&
      err.field === 'LEAN_CLOUD_NOMAD_HTTP_PORT' &&
      /expected a TCP port/.test(err.message),
  )
  assert.throws(() => loadConfig({ LEAN_CLOUD_S3_PORT: '70000' }), /LEAN_CLOUD_S3_PORT/)
})

test('two services on one port are refused', () => {
  assert.throws(() => loadConfig({ LEAN_CLOUD_S3_PORT: '4646' }), /port 4646 is already used by nomad.httpPort/)
  assert.throws(() => loadConfig({ LEAN_CLOUD_INGRESS_PORT: '8500' }), /ingress\.port: port 8500 is already used by consul\.httpPort/)
})

test('the cloud binds loopback only', () => {
  assert.throws(() => loadConfig({ LEAN_CLOUD_HOST: '0.0.0.0' }), (err: unknown) => err instanceof ConfigError && err.field === 'LEAN_CLOUD_HOST')
})

test('the database name must be a plain identifier', () => {
  assert.throws(() => loadConfig({ LEAN_CLOUD_POSTGRES_DATABASE: 'x; DROP TABLE y' }), /LEAN_CLOUD_POSTGRES_DATABASE/)
})

test('a port offset moves every default port, and explicit ports stay as given', () => {
  const c = loadConfig({ LEAN_CLOUD_PORT_OFFSET: '1000', LEAN_CLOUD_SMTP_PORT: '2999' })
  assert.equal(c.consul.httpPort, 9500)
  assert.equal(c.nomad.httpPort, 5646)
  assert.equal(c.s3.port, 10000)
  assert.equal(c.postgres.port, 16432)
  assert.equal(c.smtp.port, 2999)
  assert.equal(c.ingress.port, 9088)
  assert.throws(() => loadConfig({ LEAN_CLOUD_PORT_OFFSET: '-5' }), (err: unknown) => err instanceof ConfigError && err.field === 'LEAN_CLOUD_PORT_OFFSET')
})

test("an agent port inside Nomad's dynamic range is refused", () => {
  assert.throws(() => loadConfig({ LEAN_CLOUD_SMTP_PORT: '21000' }), /lies in Nomad's dynamic port range 20000-25999/)
  assert.throws(() => loadConfig({ LEAN_CLOUD_NOMAD_DYNAMIC_PORTS: '30000' }), (err: unknown) => err instanceof ConfigError && err.field === 'LEAN_CLOUD_NOMAD_DYNAMIC_PORTS')
})
