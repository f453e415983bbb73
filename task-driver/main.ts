// Entry point Nomad executes from plugin_dir (through the `wasm` launcher).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createDriverService, DRIVER_VERSION } from './plugin/driver-service.ts'
import {
  defaultCacheDir,
  parsePluginConfig,
  pluginConfigSpec,
  type PluginConfig,
} from './plugin/plugin-config.ts'
import { pluginProcess } from './plugin/entry.ts'
import { servePlugin } from './plugin/server.ts'
import type { RunnerCommand } from './plugin/task-handle.ts'

const log = pluginProcess('wasm')

function runnerCommand(): RunnerCommand {
  const here = path.dirname(fileURLToPath(import.meta.url))
  // Bundled: dist/task-driver/runner.mjs sits beside plugin.mjs. From source: run through tsx.
  if (import.meta.url.endsWith('.mjs'))
    return { command: process.execPath, args: [path.join(here, 'runner.mjs')] }
  return { command: process.execPath, args: ['--import', 'tsx', path.join(here, 'runner', 'main.ts')] }
}

let config: PluginConfig = { cacheDir: defaultCacheDir(), s3Buckets: {} }
await servePlugin(log, {
  name: 'wasm',
  version: DRIVER_VERSION,
  configSpec: pluginConfigSpec,
  setConfig(raw) {
    config = parsePluginConfig(raw)
    log.debug({ cacheDir: config.cacheDir, s3: Boolean(config.s3), buckets: Object.keys(config.s3Buckets) }, 'configured')
  },
  driver: createDriverService({ log, runner: runnerCommand(), config: () => config }),
})
