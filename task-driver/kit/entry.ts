// What each of our plugin processes (`wasm`, `virt`) does before serving:
// refuse to run outside Nomad, ignore an interactive Ctrl-C (Nomad stops its
// plugins itself), survive the agent's stdio going away, and log what would
// otherwise crash it.
import type { Logger } from 'pino'
import { createLogger } from './log.ts'

const MAGIC_COOKIE_KEY = 'NOMAD_PLUGIN_MAGIC_COOKIE'
const MAGIC_COOKIE = 'e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255'

export function pluginProcess(driver: string): Logger {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE) {
    process.stderr.write(
      'This binary is a plugin for Nomad: it is started by a Nomad agent from its plugin_dir, not by hand.\n',
    )
    process.exit(1)
  }
  process.on('SIGINT', () => {})
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  const log = createLogger({ '@module': driver })
  process.on('uncaughtException', (err) =>
    log.error({ err: err.message, stack: err.stack }, 'uncaught exception'),
  )
  return log
}
