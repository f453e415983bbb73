// What every command gets: the configuration, Consul KV and the process's
// streams (results on out, errors and hints on err), all injectable in tests.
import type { Kv } from './apps.ts'
import type { CliConfig } from './config.ts'

export interface Io {
  out(text: string): void
  err(text: string): void
  readStdin(): Promise<string>
}

export interface Context {
  readonly config: CliConfig
  readonly kv: Kv
  readonly io: Io
}
