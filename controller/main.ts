// The controller process: configuration once, a pino logger, the HTTP API,
// leader election and, while leading, the controller; a clean stop (which
// hands leadership over without a lock delay) on SIGTERM/SIGINT.
//   tsx controller/main.ts     (reads CONSUL_HTTP_ADDR, NOMAD_ADDR, LEAN_APPS_PREFIX, ...; see docs/controller.md)
import pino from 'pino'
import { trustCaCerts } from './ca-trust.ts'
import { ControllerConfigError, loadControllerConfig } from './config.ts'
import { startControllerService } from './service.ts'
import { checkTokens, TokenRefusedError } from './token-check.ts'

const log = pino({ base: { service: 'lean-controller' } })
const config = (() => {
  try {
    return loadControllerConfig()
  } catch (err) {
    // A bad setting (a CA file that is not there, ...) is the user's to fix: its variable, no stack trace.
    if (!(err instanceof ControllerConfigError)) throw err
    log.fatal({ code: err.code }, err.message)
    process.exit(2)
  }
})()
// Before the first request: Consul and Nomad may serve HTTPS with a CA of their own.
trustCaCerts(config.caCerts ?? [])
try {
  await checkTokens(config)
} catch (err) {
  // A refused token is the user's to fix: say which variable, without a stack trace.
  if (!(err instanceof TokenRefusedError)) throw err
  log.fatal({ code: err.code, variable: err.variable }, err.message)
  process.exit(2)
}
const STOP_TIMEOUT_MS = 20_000
const service = await startControllerService(config, log)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping')
    // A stop is bounded: should handing over leadership hang (Consul unreachable), exit anyway.
    setTimeout(() => {
      log.warn({ signal, afterMs: STOP_TIMEOUT_MS }, 'stop did not finish in time; exiting')
      process.exit(1)
    }, STOP_TIMEOUT_MS).unref()
    void service.stop().then(() => process.exit(0))
  })
}
