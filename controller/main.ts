// The controller process: configuration once, a pino logger, the HTTP API,
// leader election and, while leading, the controller; a clean stop (which
// hands leadership over without a lock delay) on SIGTERM/SIGINT.
//   tsx controller/main.ts     (reads CONSUL_HTTP_ADDR, NOMAD_ADDR, LEAN_APPS_PREFIX, ...; see README)
import pino from 'pino'
import { loadControllerConfig } from './config.ts'
import { startControllerService } from './service.ts'

const log = pino({ base: { service: 'lean-controller' } })
const config = loadControllerConfig()
const service = await startControllerService(config, log)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping')
    void service.stop().then(() => process.exit(0))
  })
}
