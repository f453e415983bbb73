// Entry point Nomad executes from plugin_dir (through the `virt` launcher):
// the VM task driver, over the cloud's libvirtd.
import { pluginProcess } from '../kit/entry.ts'
import { servePlugin } from '../kit/server.ts'
import { createVirtDriverService, VIRT_DRIVER_VERSION } from './driver-service.ts'
import {
  defaultVirtConfig,
  parseVirtPluginConfig,
  virtPluginConfigSpec,
  type VirtPluginConfig,
} from './plugin-config.ts'

const log = pluginProcess('virt')

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
