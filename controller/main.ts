// The controller process: configuration once, a pino logger, the controller,
// and a clean stop on SIGTERM/SIGINT.
//   tsx controller/main.ts     (reads CONSUL_HTTP_ADDR, NOMAD_ADDR, LEAN_APPS_PREFIX, ...)
import pino from 'pino'
import { loadControllerConfig } from './config.ts'
import { startController } from './controller.ts'

const log = pino({ base: { service: 'lean-controller' } })
const config = loadControllerConfig()
const controller = startController(config, log)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping')
    void controller.stop().then(() => process.exit(0))
  })
}
