// Entry point Nomad executes from plugin_dir (through the `virt` launcher):
// the VM task driver, over the cloud's libvirtd.
import { createLogger } from '../log.ts'
import { servePlugin } from '../plugin/server.ts'
import { createVirtDriverService, VIRT_DRIVER_VERSION } from './driver-service.ts'
import {
  defaultVirtConfig,
  parseVirtPluginConfig,
  virtPluginConfigSpec,
  type VirtPluginConfig,
} from './plugin-config.ts'

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

const log = createLogger({ '@module': 'virt' })
process.on('uncaughtException', (err) =>
  log.error({ err: err.message, stack: err.stack }, 'uncaught exception'),
)

let config: VirtPluginConfig = defaultVirtConfig()
await servePlugin(log, {
  name: 'virt',
  version: VIRT_DRIVER_VERSION,
  configSpec: virtPluginConfigSpec,
  setConfig(raw) {
    config = parseVirtPluginConfig(raw)
    log.debug(
      { uri: config.libvirtUri, imagePaths: config.imagePaths, accelerator: config.accelerator },
      'configured',
    )
  },
  driver: createVirtDriverService({ log, config: () => config }),
})
