import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { renderWasmPluginBlock } from '../../../infra/cloud/agents/nomad.ts'
import { DriverError } from '../../../task-driver/kit/errors.ts'
import { parsePluginConfig, pluginConfigSpec } from '../../../task-driver/wasm/plugin-config.ts'
import { testCredentials } from '../infra/test-credentials.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

test('without component_* options only the artifacts object is allowed, up to 256 MiB', () => {
  assert.deepEqual(parsePluginConfig({}).componentSources, {
    paths: [],
    hosts: [],
    maxBytes: 256 * 1024 ** 2,
  })
  assert.deepEqual(
    parsePluginConfig({ component_paths: null, component_hosts: null, component_max_size: '' })
      .componentSources,
    { paths: [], hosts: [], maxBytes: 256 * 1024 ** 2 },
  )
  const attributes = (pluginConfigSpec as { object: { attributes: Record<string, unknown> } }).object
    .attributes
  assert.deepEqual(attributes.component_paths, {
    Attr: { name: 'component_paths', type: 'list(string)', required: false },
  })
  assert.deepEqual(attributes.component_hosts, {
    Attr: { name: 'component_hosts', type: 'list(string)', required: false },
  })
  assert.ok(attributes.component_max_size)
})

test('component_paths, component_hosts and component_max_size are read and normalized', () => {
  const c = parsePluginConfig({
    component_paths: ['/srv/components/', '/opt/wasm'],
    component_hosts: ['Components.Example.com', '93.184.215.14', '[2606:4700:4700::1111]'],
    component_max_size: '64MiB',
  }).componentSources
  assert.deepEqual(c, {
    paths: ['/srv/components', '/opt/wasm'],
    hosts: ['components.example.com', '93.184.215.14', '2606:4700:4700::1111'],
    maxBytes: 64 * 1024 ** 2,
  })
})

test('each bad component_* option is refused, naming it', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ component_paths: 'srv' }, /component_paths: expected a list of strings/],
    [{ component_paths: ['relative/dir'] }, /component_paths: "relative\/dir" is not an absolute path/],
    [{ component_paths: ['/'] }, /component_paths: "\/" would allow every file/],
    [
      { component_hosts: ['https://example.com'] },
      /component_hosts: "https:\/\/example\.com" is not a host name/,
    ],
    [{ component_hosts: ['example.com:8080'] }, /component_hosts: .* is not a host name/],
    [{ component_hosts: ['127.0.0.1'] }, /component_hosts: 127\.0\.0\.1 is a loopback, private/],
    [{ component_hosts: ['[::1]'] }, /component_hosts: \[::1\] is a loopback/],
    [{ component_hosts: ['10.0.0.8'] }, /component_hosts: 10\.0\.0\.8 is a loopback, private/],
    [{ component_hosts: ['::ffff:93.184.215.14'] }, /component_hosts: .* non-public/],
    [{ component_max_size: 'huge' }, /component_max_size: expected a size such as "256MiB", got "huge"/],
    [{ component_max_size: 5 }, /component_max_size: expected a size/],
    [{ component_max_size: '3GiB' }, /component_max_size: at most 2GiB/],
  ]
  for (const [raw, message] of cases) {
    assert.throws(
      () => parsePluginConfig(raw),
      (err: unknown) =>
        err instanceof DriverError &&
        err.code === 'LEAN_ERR_DRIVER_CONFIG' &&
        err.message.startsWith('plugin config component_') &&
        message.test(err.message),
      JSON.stringify(raw),
    )
  }
})

test("the local cloud's wasm block allows the repo's built components (the tests' components) and no host", () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const block = renderWasmPluginBlock(config, testCredentials)
  const dist = path.join(repo, 'workloads', 'dist')
  assert.match(block, new RegExp(`component_paths = \\[${JSON.stringify(dist).replace(/[/.]/g, '\\$&')}\\]`))
  assert.doesNotMatch(block, /component_hosts/)
  // What Nomad hands the driver for it.
  assert.deepEqual(parsePluginConfig({ component_paths: [dist] }).componentSources?.paths, [dist])
})
