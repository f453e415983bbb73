// Reading apps back from Consul KV: spec keys under the apps prefix, status
// documents (written by the controller) under the status prefix.
import type { AppStatus } from '../controller/app-status.ts'
import { type ConsulKv } from '../controller/consul-kv.ts'
import { appNameOf } from '../ground/kv-layout.ts'
import type { CliConfig } from './config.ts'

/** The ConsulKv methods leanctl uses; tests pass stubs. */
export type Kv = Pick<ConsulKv, 'get' | 'getWithIndex' | 'list' | 'set' | 'delete'>

/** A status document as stored; 'unreadable' when it is not one (the controller never writes such). */
export type StoredStatus = AppStatus | 'unreadable'

export function parseStatus(value: string): StoredStatus {
  try {
    const status = JSON.parse(value) as AppStatus | null
    return typeof status === 'object' && status !== null && typeof status.phase === 'string'
      ? status
      : 'unreadable'
  } catch {
    return 'unreadable'
  }
}

export interface AppRow {
  readonly name: string
  /** Absent while the controller has not written one yet. */
  readonly status?: StoredStatus
}

/** Direct children of `prefix` by name; folders and nested keys are not apps (as in the controller). */
function byName(prefix: string, entries: ReadonlyArray<{ key: string; value: string }>): Map<string, string> {
  const names = new Map<string, string>()
  for (const e of entries) {
    const name = appNameOf(prefix, e.key)
    if (name) names.set(name, e.value)
  }
  return names
}

/** Every app with a spec or a status (one being deleted may have only the latter for a moment), by name. */
export async function listApps(kv: Kv, config: CliConfig): Promise<AppRow[]> {
  const [specs, statuses] = await Promise.all([kv.list(config.appsPrefix), kv.list(config.statusPrefix)])
  const spec = byName(config.appsPrefix, specs.entries)
  const status = byName(config.statusPrefix, statuses.entries)
  const names = [...new Set([...spec.keys(), ...status.keys()])].sort()
  return names.map((name) => {
    const value = status.get(name)
    return { name, ...(value !== undefined && { status: parseStatus(value) }) }
  })
}
