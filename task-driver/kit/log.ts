// The plugin's logger. Nomad's plugin host reads our stderr line by line and
// re-logs lines that parse as hclog JSON under the agent's logger: that needs
// `@level` (lower-case name), `@message`, and `@timestamp` with exactly six
// fractional digits. stdout is reserved for the go-plugin handshake.
import pino, { type Logger } from 'pino'

function hclogTimestamp(): string {
  const iso = new Date().toISOString() // 2026-11-23T08:49:19.898Z
  return `,"@timestamp":"${iso.slice(0, 23)}000Z"`
}

const hclogLevels: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
}

export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.WASM_DRIVER_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: bindings,
      messageKey: '@message',
      timestamp: hclogTimestamp,
      formatters: { level: (label) => ({ '@level': hclogLevels[label] ?? 'info' }) },
    },
    pino.destination({ fd: 2, sync: true }),
  )
}
