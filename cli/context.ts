// What every command gets: the configuration, Consul KV, the controller's API
// (apply uploads a document's component file through it) and the process's
// streams (results on out, errors and hints on err), all injectable in tests.
import type { Kv } from './apps.ts'
import type { CliConfig } from './config.ts'
import type { ControllerClient } from './controller-client.ts'

export interface Io {
  out(text: string): void
  err(text: string): void
  readStdin(): Promise<string>
}

export interface Context {
  readonly config: CliConfig
  readonly kv: Kv
  readonly controller: ControllerClient
  readonly io: Io
}
