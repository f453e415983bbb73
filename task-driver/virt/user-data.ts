// The user-data a VM's NoCloud seed carries, from the task config (pure).
// The job author's own `user_data` goes in unchanged; ssh keys, commands,
// the hostname and the /etc/hosts entries of granted services (egress.ts)
// the driver adds form a second cloud-config document. With
// both, the seed holds a MIME multipart of the two, and the driver's part
// asks cloud-init to append its lists to the author's rather than replace them.
import type { VirtTaskConfig } from './task-config.ts'

/** A YAML scalar for any one-line string: a JSON string is a valid YAML double-quoted scalar. */
const yamlString = (s: string) => JSON.stringify(s)

/** A name the guest resolves through /etc/hosts (a granted service's address). */
export interface HostEntry {
  readonly address: string
  readonly name: string
}

/**
 * One bootcmd line that adds an /etc/hosts entry unless it is there: bootcmd
 * runs at every boot, before the network and every other module, so the
 * names resolve from the author's first command on. Address and name are the
 * driver's own (an IPv4 address, a service name): nothing here needs quoting.
 */
export const hostsCommand = (h: HostEntry) =>
  `grep -qsxF '${h.address} ${h.name}' /etc/hosts || echo '${h.address} ${h.name}' >>/etc/hosts`

/** The driver's own cloud-config, or undefined when it has nothing to add. */
export function driverCloudConfig(
  c: Pick<VirtTaskConfig, 'sshAuthorizedKeys' | 'cmds'>,
  hostname: string,
  merge: boolean,
  hosts: readonly HostEntry[] = [],
): string {
  // Quoted: YAML 1.1 would read `123` or `yes` as a number or a boolean (the tiny image's /init strips quotes).
  const lines = ['#cloud-config', `hostname: ${yamlString(hostname)}`]
  if (c.sshAuthorizedKeys.length > 0)
    lines.push('ssh_authorized_keys:', ...c.sshAuthorizedKeys.map((k) => `  - ${yamlString(k)}`))
  if (hosts.length > 0) lines.push('bootcmd:', ...hosts.map((h) => `  - ${yamlString(hostsCommand(h))}`))
  if (c.cmds.length > 0) lines.push('runcmd:', ...c.cmds.map((cmd) => `  - ${yamlString(cmd)}`))
  if (merge)
    lines.push(
      'merge_how:',
      '  - name: list',
      '    settings: [append]',
      '  - name: dict',
      '    settings: [no_replace, recurse_list]',
    )
  return `${lines.join('\n')}\n`
}

/** The whole user-data document for the seed. `boundary` is fixed by the caller (tests pass a constant). */
export function buildUserData(
  c: Pick<VirtTaskConfig, 'userData' | 'sshAuthorizedKeys' | 'cmds'>,
  hostname: string,
  boundary: string,
  hosts: readonly HostEntry[] = [],
): string {
  const extra = c.sshAuthorizedKeys.length > 0 || c.cmds.length > 0 || hosts.length > 0
  if (c.userData === undefined) return driverCloudConfig(c, hostname, false, hosts)
  if (!extra) return c.userData
  const part = (body: string) =>
    [
      `--${boundary}`,
      'Content-Type: text/cloud-config; charset="utf-8"',
      'MIME-Version: 1.0',
      '',
      body.endsWith('\n') ? body : `${body}\n`,
    ].join('\n')
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    part(c.userData),
    part(driverCloudConfig(c, hostname, true, hosts)),
    `--${boundary}--`,
    '',
  ].join('\n')
}
