import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { renderNomadConfig, renderWasmPluginBlock } from '../../../infra/cloud/agents/nomad.ts'

test('the Nomad agent config names the wasm plugin block with its cache and S3 settings', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc', LEAN_CLOUD_NOMAD_HTTP_PORT: '5646' })
  const without = renderNomadConfig(config)
  assert.match(without, /plugin_dir\s+= "\/srv\/lc\/nomad\/plugins"/)
  assert.match(without, /http = 5646/)
  assert.match(without, /address = "127\.0\.0\.1:8500"/)
  assert.doesNotMatch(without, /plugin "wasm"/)
  const creds = { s3AccessKey: 'AK', s3SecretKey: 'SK', postgresPassword: 'pw', postgresClusterId: 'id' }
  const withWasm = renderNomadConfig(config, renderWasmPluginBlock(config, creds))
  assert.match(withWasm, /plugin "wasm" \{/)
  assert.match(withWasm, /cache_dir\s+= "\/srv\/lc\/nomad\/wasm-cache"/)
  assert.match(withWasm, /s3_endpoint\s+= "http:\/\/127\.0\.0\.1:9000"/)
})
