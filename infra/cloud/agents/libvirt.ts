// libvirt, private to the cloud's data dir: a libvirtd that the `virt` task
// driver talks to through its own socket, never the host's default libvirt.
//
// A root libvirtd (`qemu:///system`) has its directories compiled in:
// /etc/libvirt, /var/lib/libvirt, /run/libvirt, /var/log/libvirt and
// /var/cache/libvirt; `--config` moves only libvirtd.conf (and with it the
// socket dir). So it runs in a mount namespace of its own (`unshare --mount`),
// where those five paths are bind mounts of dirs under <data>/libvirt/; its
// socket, <data>/libvirt/run/libvirt-sock, is reached from outside with
// `qemu:///system?socket=…`. Nothing is written to the host's libvirt dirs
// (the mount points are made empty if they are missing), no systemd is needed,
// and the host may run its own libvirtd next to it.
//
// Its qemu.conf runs QEMU as `lean-qemu`, a user of its own that exists only
// in the namespace's /etc/passwd (an id nothing else on the host is given),
// and has libvirt put each QEMU in a cgroup of its own (cpu, cpuacct, memory;
// libvirt makes `/machine/qemu-<id>-<name>.libvirt-qemu` without systemd, on
// cgroup v1 and v2 alike). libvirt chowns nothing (`dynamic_ownership = 0`):
// the virt driver gives QEMU its task's own files and nothing else
// (task-driver/virt/confinement.ts). /dev/kvm, where it exists, is a private
// node in the namespace, root:kvm 0660 with lean-qemu in kvm, as udev would
// make it: a /dev/kvm QEMU's user cannot open makes libvirt re-probe QEMU on
// every create (46 s each here; ../shared/docs/vm-libvirt.md).
// Domain consoles go to plain files (`stdio_handler = "file"`): no virtlogd.
//
// libvirt resolves its compiled-in QEMU user `libvirt-qemu` at start even
// when qemu.conf names another; that user comes from libvirt-daemon-system,
// whose install also sets up (and may start) the host's libvirtd. So the
// namespace gets its own /etc/passwd and /etc/group: the host's, plus that
// user (a placeholder) and lean-qemu.
import { execFile } from 'node:child_process'
import { access, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Agent, AgentContext } from '../agent.ts'
import type { CloudConfig } from '../config.ts'
import { CloudError } from '../errors.ts'

const run = promisify(execFile)

export interface LibvirtPaths {
  readonly root: string
  /** Bind-mounted on /etc/libvirt inside the namespace: libvirtd.conf, qemu.conf. */
  readonly etc: string
  /** On /var/lib/libvirt: the QEMU driver's state (capabilities cache of a domain, channels). */
  readonly lib: string
  /** On /run/libvirt: the sockets, libvirtd's pid file, running domains' status XML. */
  readonly run: string
  readonly log: string
  readonly cache: string
  readonly passwd: string
  readonly group: string
  readonly launcher: string
  readonly socket: string
}

/** Where the private libvirtd keeps everything, under `<dataDir>/libvirt/`. */
export function libvirtPaths(dataDir: string): LibvirtPaths {
  const root = path.join(dataDir, 'libvirt')
  return {
    root,
    etc: path.join(root, 'etc'),
    lib: path.join(root, 'lib'),
    run: path.join(root, 'run'),
    log: path.join(root, 'log'),
    cache: path.join(root, 'cache'),
    passwd: path.join(root, 'passwd'),
    group: path.join(root, 'group'),
    launcher: path.join(root, 'launch.sh'),
    socket: path.join(root, 'run', 'libvirt-sock'),
  }
}

/** The connection URI of the cloud's libvirtd, for `virsh -c` and the virt driver's plugin config. */
export function libvirtUri(dataDir: string): string {
  return `qemu:///system?socket=${libvirtPaths(dataDir).socket}`
}

// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH = 107

export const LIBVIRTD_CONF = `# Written by lean-cloud: the private libvirtd of one cloud (infra/cloud/agents/libvirt.ts).
# Its socket is reachable by root only.
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
# No TCP/TLS listeners; keepalive as libvirt's default.
log_outputs = "3:stderr"
`

/** The user QEMU runs as: in the namespace's passwd only (withQemuUsers). */
export const QEMU_USER = 'lean-qemu'

export const QEMU_CONF = `# Written by lean-cloud: the private libvirtd of one cloud (infra/cloud/agents/libvirt.ts).
# QEMU runs unprivileged, as a user of its own (in this namespace's /etc/passwd only).
user = "${QEMU_USER}"
group = "${QEMU_USER}"
# libvirt chowns nothing: the virt driver gives QEMU its task's own files, while
# shared base images stay root's and read-only to QEMU.
dynamic_ownership = 0
remember_owner = 0
# No AppArmor/SELinux here; DAC (the user above) is always on.
security_driver = "none"
# A cgroup per domain; the driver sets its memory hard limit and CPU shares.
cgroup_controllers = [ "cpu", "cpuacct", "memory" ]
# Consoles and QEMU's own log go to plain files (libvirt opens them, QEMU gets the fd): no virtlogd.
stdio_handler = "file"
`

// Runs inside the new mount namespace (propagation private, so nothing leaks
// back to the host): bind the private dirs over libvirt's compiled-in ones,
// then become libvirtd. Arguments, never interpolated: $1 is <data>/libvirt.
export const LAUNCHER = `#!/bin/sh
# Written by lean-cloud (infra/cloud/agents/libvirt.ts); run as: unshare --mount --propagation private sh launch.sh DIR
set -eu
dir=$1
bind() { [ -d "$2" ] || mkdir -p "$2"; mount --bind "$1" "$2"; }
mount --bind "$dir/passwd" /etc/passwd
mount --bind "$dir/group" /etc/group
# QEMU is not root: it gets /dev/kvm as udev would give it, root:kvm 0660, on a
# private node (a tmpfs, so no nodev mount is in the way); the host's stays as it is.
if [ -c /dev/kvm ]; then
  mkdir -p "$dir/dev"
  mount -t tmpfs -o mode=0755,size=16k lean-dev "$dir/dev"
  mknod -m 0660 "$dir/dev/kvm" c "0x$(stat -c %t /dev/kvm)" "0x$(stat -c %T /dev/kvm)"
  chgrp kvm "$dir/dev/kvm"
  mount --bind "$dir/dev/kvm" /dev/kvm
fi
bind "$dir/etc" /etc/libvirt
bind "$dir/lib" /var/lib/libvirt
bind "$dir/run" /run/libvirt
bind "$dir/log" /var/log/libvirt
bind "$dir/cache" /var/cache/libvirt
# Its pid file too: the default, /run/libvirtd.pid, is outside the bind mounts and one per host.
exec libvirtd --config /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid
`

const PLACEHOLDER_UID = 64055
/**
 * Ids lean-qemu and, if the host has none, the kvm group may take: systemd's
 * UIDS-GIDS.md leaves 65520-65533 unallocated (above its DynamicUser range,
 * below nobody), so no daemon is handed one; the first free in both files wins.
 */
export const QEMU_ID_RANGE: readonly [number, number] = [65520, 65533]

interface IdLine {
  readonly name: string
  readonly id: number
}

function idLines(text: string): IdLine[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && f[0] !== '')
    .map((f) => ({ name: f[0]!, id: Number(f[2]) }))
}

/**
 * The host's passwd/group text plus libvirt's placeholder `libvirt-qemu` and
 * the user QEMU runs as, `lean-qemu` (uid = gid, a member of kvm), with the
 * ids they got (pure; the same input gives the same ids).
 */
export function withQemuUsers(
  passwd: string,
  group: string,
): { passwd: string; group: string; uid: number; gid: number } {
  const nl = (t: string) => (t === '' || t.endsWith('\n') ? t : `${t}\n`)
  let p = nl(passwd)
  let g = nl(group)
  const has = (text: string, name: string) => idLines(text).some((l) => l.name === name)
  const taken = () => new Set([...idLines(p), ...idLines(g)].map((l) => l.id))
  const freeId = () => {
    const used = taken()
    for (let id = QEMU_ID_RANGE[0]; id <= QEMU_ID_RANGE[1]; id++) if (!used.has(id)) return id
    throw new CloudError(
      'LEAN_ERR_CLOUD_CONFIG',
      `no free id in ${QEMU_ID_RANGE.join('-')} for the QEMU user ${QEMU_USER}: the host's /etc/passwd or /etc/group uses them all`,
    )
  }
  if (!has(g, 'libvirt-qemu')) g += `libvirt-qemu:x:${PLACEHOLDER_UID}:\n`
  if (!has(p, 'libvirt-qemu'))
    p += `libvirt-qemu:x:${PLACEHOLDER_UID}:${PLACEHOLDER_UID}:lean-cloud libvirtd placeholder, unused:/nonexistent:/usr/sbin/nologin\n`
  const existing = idLines(p).find((l) => l.name === QEMU_USER)
  const id = existing?.id ?? freeId()
  if (!existing) {
    p += `${QEMU_USER}:x:${id}:${id}:lean-cloud QEMU (private libvirtd):/nonexistent:/usr/sbin/nologin\n`
    g += `${QEMU_USER}:x:${id}:\n`
  }
  if (!has(g, 'kvm')) g += `kvm:x:${freeId()}:${QEMU_USER}\n`
  else
    g = g.replace(/^kvm:([^:\n]*):([^:\n]*):([^\n]*)$/m, (line, pw: string, gid: string, members: string) => {
      const list = members.split(',').filter(Boolean)
      return list.includes(QEMU_USER) ? line : `kvm:${pw}:${gid}:${[...list, QEMU_USER].join(',')}`
    })
  return { passwd: p, group: g, uid: id, gid: id }
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])) {
    try {
      await access(path.join(dir, program))
      return true
    } catch {
      // next
    }
  }
  return false
}

const NEEDED: ReadonlyArray<[string, string]> = [
  ['libvirtd', 'libvirt-daemon'],
  ['virsh', 'libvirt-clients'],
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['unshare', 'util-linux'],
]

/** Writes the private config, passwd/group and launcher; checks what libvirtd needs is there. */
export async function prepareLibvirt(dataDir: string): Promise<LibvirtPaths> {
  if (process.getuid?.() !== 0)
    throw new CloudError(
      'LEAN_ERR_CLOUD_START',
      'the private libvirtd needs root (it runs in its own mount namespace); as another user, libvirt runs per user as qemu:///session, which this agent does not manage',
    )
  const missing = []
  for (const [program, pkg] of NEEDED)
    if (!(await onPath(program))) missing.push(`${program} (Debian package ${pkg})`)
  if (missing.length > 0)
    throw new CloudError(
      'LEAN_ERR_CLOUD_BINARY',
      `libvirt cannot start: missing ${missing.join(', ')}; \`bash infra/prerequisites.sh\` installs them`,
    )
  const p = libvirtPaths(dataDir)
  if (Buffer.byteLength(p.socket) > MAX_SOCKET_PATH)
    throw new CloudError(
      'LEAN_ERR_CLOUD_CONFIG',
      `the libvirt socket path ${p.socket} is longer than ${MAX_SOCKET_PATH} bytes: choose a shorter LEAN_CLOUD_DATA_DIR`,
    )
  await mkdir(p.etc, { recursive: true, mode: 0o700 })
  // QEMU (not root) must pass through to its domain's dirs libvirt makes below these: traverse, no listing.
  for (const dir of [p.root, p.lib, p.run, p.log, p.cache]) {
    await mkdir(dir, { recursive: true })
    await chmod(dir, 0o711)
  }
  await writeFile(path.join(p.etc, 'libvirtd.conf'), LIBVIRTD_CONF)
  await writeFile(path.join(p.etc, 'qemu.conf'), QEMU_CONF)
  const ids = withQemuUsers(await readFile('/etc/passwd', 'utf8'), await readFile('/etc/group', 'utf8'))
  await writeFile(p.passwd, ids.passwd, { mode: 0o644 })
  await writeFile(p.group, ids.group, { mode: 0o644 })
  await writeFile(p.launcher, LAUNCHER, { mode: 0o755 })
  // A socket left by a libvirtd that was killed would make the health check connect to nothing.
  await rm(p.socket, { force: true })
  return p
}

/** How to start it: the launcher in a new mount namespace; libvirtd stays in the foreground, same pid. */
export function libvirtdSpawnSpec(dataDir: string): { command: string; args: string[]; cwd: string } {
  const p = libvirtPaths(dataDir)
  return {
    command: 'unshare',
    args: ['--mount', '--propagation', 'private', 'sh', p.launcher, p.root],
    cwd: '/',
  }
}

/**
 * `virsh version` through the private socket. The first connection after a
 * start takes ~8-12 s: libvirtd probes QEMU's capabilities then.
 */
export async function libvirtHealth(dataDir: string, timeoutMs = 60_000): Promise<string> {
  const uri = libvirtUri(dataDir)
  try {
    await access(libvirtPaths(dataDir).socket)
  } catch {
    throw new Error(`no libvirt socket yet at ${libvirtPaths(dataDir).socket}`)
  }
  const { stdout } = await run('virsh', ['-q', '-c', uri, 'version'], {
    timeout: timeoutMs,
    env: { ...process.env, LC_ALL: 'C' },
  })
  const lib = /Running against daemon: ([\d.]+)|Using library: libvirt ([\d.]+)/.exec(stdout)
  const qemu = /Running hypervisor: QEMU ([\d.]+)/.exec(stdout)?.[1]
  if (!qemu) throw new Error(`libvirtd answers but has no QEMU driver: ${stdout.trim()}`)
  return `libvirt ${lib?.[1] ?? lib?.[2] ?? '?'} with QEMU ${qemu} at ${uri}`
}

export const libvirtAgent: Agent = {
  name: 'libvirt',
  programs: [],
  ports: () => [], // a unix socket only
  stopSignal: 'SIGTERM', // libvirtd closes its sockets and exits; running domains go on (transient, in its namespace)
  stopGraceMs: 15_000,

  async prepare({ config }: AgentContext) {
    await prepareLibvirt(config.dataDir)
  },

  async spawnSpec({ config }) {
    return libvirtdSpawnSpec(config.dataDir)
  },

  async health({ config }) {
    return libvirtHealth(config.dataDir)
  },

  // libvirtd reads its config and launcher at start only; running domains survive its restart.
  async restartReason({ config }) {
    const p = libvirtPaths(config.dataDir)
    const written = await Promise.all(
      [p.launcher, path.join(p.etc, 'libvirtd.conf'), path.join(p.etc, 'qemu.conf')].map((f) =>
        readFile(f, 'utf8').catch(() => ''),
      ),
    )
    return written.join('\0') === [LAUNCHER, LIBVIRTD_CONF, QEMU_CONF].join('\0')
      ? undefined
      : `its launcher or config in ${p.root} is out of date`
  },

  async resetState(config: CloudConfig) {
    const p = libvirtPaths(config.dataDir)
    for (const dir of [p.lib, p.run, p.cache]) await rm(dir, { recursive: true, force: true })
    return `deleted libvirt's state in ${p.root} (domains are transient: none is defined)`
  },
}
