// Entry point Nomad executes from plugin_dir (through the `virt` launcher):
// the VM task driver, over the cloud's libvirtd.
import { pluginProcess } from '../kit/entry.ts'
import { servePlugin } from '../kit/server.ts'
import { driverService } from '../kit/driver.ts'
import { VIRT_DRIVER_VERSION, virtDriver } from './virt-driver.ts'
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
  driver: driverService(virtDriver({ log, config: () => config }), log),
})
