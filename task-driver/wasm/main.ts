// Entry point Nomad executes from plugin_dir (through the `wasm` launcher).
import { DRIVER_VERSION, wasmDriver } from './wasm-driver.ts'
import { driverService } from '../kit/driver.ts'
import {
  defaultCacheDir,
  parsePluginConfig,
  pluginConfigSpec,
  type PluginConfig,
} from './plugin-config.ts'
import { pluginProcess } from '../kit/entry.ts'
import { servePlugin } from '../kit/server.ts'

const log = pluginProcess('wasm')

let config: PluginConfig = { cacheDir: defaultCacheDir(), s3Buckets: {} }
await servePlugin(log, {
  name: 'wasm',
  version: DRIVER_VERSION,
  configSpec: pluginConfigSpec,
  setConfig(raw) {
    config = parsePluginConfig(raw)
    log.debug({ cacheDir: config.cacheDir, s3: Boolean(config.s3), buckets: Object.keys(config.s3Buckets) }, 'configured')
  },
  driver: driverService(wasmDriver({ log, config: () => config }), log),
})
