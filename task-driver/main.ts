// Entry point Nomad executes from plugin_dir (through the `wasm` launcher).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger } from './log.ts'
import { createDriverService, DRIVER_VERSION } from './plugin/driver-service.ts'
import {
  defaultCacheDir,
  parsePluginConfig,
  pluginConfigSpec,
  type PluginConfig,
} from './plugin/plugin-config.ts'
import { servePlugin } from './plugin/server.ts'
import type { RunnerCommand } from './plugin/task-handle.ts'

const MAGIC_COOKIE_KEY = 'NOMAD_PLUGIN_MAGIC_COOKIE'
const MAGIC_COOKIE = 'e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255'

if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE) {
  process.stderr.write(
    'This binary is a plugin for Nomad: it is started by a Nomad agent from its plugin_dir, not by hand.\n',
  )
  process.exit(1)
}

// Nomad stops plugins itself; an interactive Ctrl-C reaches the whole process group.
process.on('SIGINT', () => {})
// After the agent dies our stdio pipes are gone; writing must not crash us.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})

const log = createLogger({ '@module': 'wasm' })
process.on('uncaughtException', (err) =>
  log.error({ err: err.message, stack: err.stack }, 'uncaught exception'),
)

function runnerCommand(): RunnerCommand {
  const here = path.dirname(fileURLToPath(import.meta.url))
  // Bundled: dist/task-driver/runner.mjs sits beside plugin.mjs. From source: run through tsx.
  if (import.meta.url.endsWith('.mjs'))
    return { command: process.execPath, args: [path.join(here, 'runner.mjs')] }
  return { command: process.execPath, args: ['--import', 'tsx', path.join(here, 'runner', 'main.ts')] }
}

let config: PluginConfig = { cacheDir: defaultCacheDir() }
await servePlugin(log, {
  name: 'wasm',
  version: DRIVER_VERSION,
  configSpec: pluginConfigSpec,
  setConfig(raw) {
    config = parsePluginConfig(raw)
    log.debug({ cacheDir: config.cacheDir, s3: Boolean(config.s3) }, 'configured')
  },
  driver: createDriverService({ log, runner: runnerCommand(), config: () => config }),
})
