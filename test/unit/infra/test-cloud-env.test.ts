// The tests' cloud, whatever the shell holds: a loaded cloud.env of the user's
// cloud is left out, and the tests' own values always win.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { cloudEnv } from '../../../infra/cloud/credentials.ts'
import { applyTestCloudEnv, describesACloud, TEST_CLOUD_ENV } from '../../harness/test-cloud-env.ts'
import { testCredentials } from './test-credentials.ts'

test("a user's cloud.env in the shell: every variable of it is left out and the tests' cloud is configured", () => {
  const user = loadConfig({ LEAN_CLOUD_DATA_DIR: '/home/me/lean/.lean-cloud' })
  const shell = cloudEnv(user, testCredentials, { nomadController: { accessorId: 'a', secretId: 's' } })
  const env: NodeJS.ProcessEnv = {
    ...shell,
    PATH: '/usr/bin',
    HOME: '/home/me',
    PGHOST: '/run/me',
    LEAN_CLOUD_CACHE: '/cache',
    LEAN_TEST_KEEP_CLOUD: '1',
  }
  const said: string[] = []
  const leftOut = applyTestCloudEnv(env, (line) => said.push(line))

  for (const name of Object.keys(shell))
    assert.ok(!(name in env) || name in TEST_CLOUD_ENV, `${name} was left out`)
  assert.deepEqual(leftOut, [...Object.keys(shell), 'PGHOST'].sort())
  assert.equal(env.PATH, '/usr/bin')
  assert.equal(env.LEAN_CLOUD_CACHE, '/cache', 'the build cache is a setting of the run')
  assert.equal(env.LEAN_TEST_KEEP_CLOUD, '1')
  const config = loadConfig(env)
  assert.equal(config.dataDir, TEST_CLOUD_ENV.LEAN_CLOUD_DATA_DIR)
  assert.equal(config.consul.httpPort, 9500)
  assert.equal(config.controller.appsPrefix, 'lean-cloud-test/apps/')
  assert.equal(said.length, 1)
  assert.match(said[0]!, /left out \d+ variables .*CONSUL_HTTP_ADDR.*LEAN_CLOUD_DATA_DIR/)
})

test("the tests' values win over the same variables set otherwise, and an already clean environment says nothing", () => {
  const env: NodeJS.ProcessEnv = {
    LEAN_CLOUD_PORT_OFFSET: '0',
    LEAN_CLOUD_CONSUL_HTTP_PORT: '8500',
    LEAN_APPS_PREFIX: 'lean-cloud/apps/',
  }
  applyTestCloudEnv(env, () => {})
  assert.equal(loadConfig(env).consul.httpPort, 9500)
  assert.equal(env.LEAN_APPS_PREFIX, 'lean-cloud-test/apps/')

  const said: string[] = []
  assert.deepEqual(
    applyTestCloudEnv(env, (line) => said.push(line)),
    [],
  )
  assert.deepEqual(said, [])
})

test('which variables belong to a cloud', () => {
  for (const name of [
    'CONSUL_HTTP_ADDR',
    'NOMAD_TOKEN',
    'S3_SECRET_KEY',
    'DATABASE_URL',
    'SMTP_ADDR',
    'SMTP_CACERT',
    'S3_CACERT',
    'MAILDIR',
    'LEAN_CLOUD_HOST',
    'LEAN_CONTROLLER_NOMAD_TOKEN',
    'PGPASSWORD',
  ])
    assert.ok(describesACloud(name), name)
  for (const name of [
    'PATH',
    'HOME',
    'LEAN_CLOUD_CACHE',
    'LEAN_CLOUD_START_TIMEOUT_SECONDS',
    'LEAN_TEST_KEEP_CLOUD',
    'BENCH_ROUNDS',
    'CARGO_HOME',
  ])
    assert.ok(!describesACloud(name), name)
})
