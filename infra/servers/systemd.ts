// Writing systemd unit files: sections of key=value lines, every value
// checked to be one line, and ExecStart arguments quoted only where systemd
// would split or expand them.

export type UnitLine = readonly [key: string, value: string | number]
export interface UnitSections {
  readonly Unit: readonly UnitLine[]
  readonly Service: readonly UnitLine[]
  readonly Install: readonly UnitLine[]
}

/** One ExecStart= word: plain when systemd takes it as is, otherwise double-quoted with \ and " escaped; $ and % doubled. */
export function execWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$')
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

export function execLine(command: string, args: readonly string[]): string {
  if (!command.startsWith('/')) throw new Error(`a unit's command must be an absolute path, got ${command}`)
  return [command, ...args].map(execWord).join(' ')
}

export function renderUnit(header: string, sections: UnitSections): string {
  const lines = [`# ${header}`]
  for (const [name, entries] of Object.entries(sections) as Array<[string, readonly UnitLine[]]>) {
    if (entries.length === 0) continue
    lines.push('', `[${name}]`)
    for (const [key, value] of entries) {
      const text = String(value)
      if (/[\n\r]/.test(text)) throw new Error(`unit line ${key}= must be one line`)
      lines.push(`${key}=${text}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** The hardening a service that needs no privilege gets: it sees the system read-only and writes only `writable`. */
export function confined(writable: readonly string[]): UnitLine[] {
  return [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ...writable.map((dir): UnitLine => ['ReadWritePaths', dir]),
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelLogs', 'yes'],
    ['ProtectControlGroups', 'yes'],
    ['ProtectClock', 'yes'],
    ['ProtectHostname', 'yes'],
    ['RestrictSUIDSGID', 'yes'],
    ['RestrictRealtime', 'yes'],
    ['RestrictNamespaces', 'yes'],
    ['LockPersonality', 'yes'],
    ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
    ['CapabilityBoundingSet', ''],
    ['AmbientCapabilities', ''],
  ]
}
