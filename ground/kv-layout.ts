// Where the controller keeps its state in Consul KV, as the controller, the
// cloud's ACL policies and the tests all read it: the apps' documents, their
// statuses and the leader lock, named by LEAN_APPS_PREFIX, LEAN_STATUS_PREFIX
// and LEAN_LEADER_KEY. A bad value goes to the caller's `refuse`, which
// throws the caller's own configuration error naming the variable.

export interface ControllerKeys {
  readonly appsPrefix: string
  readonly statusPrefix: string
  readonly leaderKey: string
}

/** Throws the caller's error for `variable`; `reason` reads after its name. */
export type Refuse = (variable: string, reason: string) => never

/** The Consul service the leading controller registers (the cloud's ACL policy grants it). */
export const CONTROLLER_SERVICE = 'lean-controller'

function prefix(variable: string, value: string | undefined, fallback: string, refuse: Refuse): string {
  const raw = value && value !== '' ? value : fallback
  if (!/^[A-Za-z0-9._/-]+\/$/.test(raw)) refuse(variable, `expected a KV path ending in /, got ${raw}`)
  return raw
}

function leaderKey(value: string | undefined, refuse: Refuse): string {
  const raw = value && value !== '' ? value : 'lean-cloud/leader'
  if (!/^[A-Za-z0-9._/-]+[^/]$/.test(raw)) refuse('LEAN_LEADER_KEY', `expected a KV key (not ending in /), got ${raw}`)
  return raw
}

/** LEAN_APPS_PREFIX, LEAN_STATUS_PREFIX and LEAN_LEADER_KEY, validated: they must not overlap. */
export function loadControllerKeys(env: Record<string, string | undefined>, refuse: Refuse): ControllerKeys {
  const keys = {
    appsPrefix: prefix('LEAN_APPS_PREFIX', env.LEAN_APPS_PREFIX, 'lean-cloud/apps/', refuse),
    statusPrefix: prefix('LEAN_STATUS_PREFIX', env.LEAN_STATUS_PREFIX, 'lean-cloud/status/', refuse),
    leaderKey: leaderKey(env.LEAN_LEADER_KEY, refuse),
  }
  if (keys.appsPrefix.startsWith(keys.statusPrefix) || keys.statusPrefix.startsWith(keys.appsPrefix))
    refuse('LEAN_STATUS_PREFIX', 'must not overlap LEAN_APPS_PREFIX (status writes would wake the spec watch)')
  if (keys.leaderKey.startsWith(keys.appsPrefix) || keys.leaderKey.startsWith(keys.statusPrefix))
    refuse('LEAN_LEADER_KEY', 'must lie outside LEAN_APPS_PREFIX and LEAN_STATUS_PREFIX')
  return keys
}

/** The app name a key under `prefix` stands for; undefined for the folder itself. */
export function appNameOf(prefix: string, key: string): string | undefined {
  // A nested key (`<prefix>a/b`) is named too: the validator says why it is no app, in its status.
  const name = key.slice(prefix.length)
  return name === '' ? undefined : name
}
