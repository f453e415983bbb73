import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { renderNomadConfig } from '../../../infra/cloud/agents/nomad.ts'

test('the Nomad agent config names the wasm plugin only when it is installed', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc', LEAN_CLOUD_NOMAD_HTTP_PORT: '5646' })
  const without = renderNomadConfig(config, false)
  assert.match(without, /plugin_dir\s+= "\/srv\/lc\/nomad\/plugins"/)
  assert.match(without, /http = 5646/)
  assert.match(without, /address = "127\.0\.0\.1:8500"/)
  assert.doesNotMatch(without, /plugin "wasm"/)
  assert.match(renderNomadConfig(config, true), /plugin "wasm" \{/)
})
