// The Debian image: Debian 12 with cloud-init, as a qcow2 disk that boots
// with BIOS + extlinux. mmdebstrap makes the root filesystem in a directory;
// mkfs.ext4 -d writes it into a partition of a raw disk file (at an offset,
// since loop partition devices do not appear here); extlinux is installed
// through a loop mount; qemu-img compresses the disk to qcow2.
import { mkdir, open, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BuildArgs } from './args.ts'
import { canonicalJson, sha256Bytes } from '../../ground/digest.ts'
import { ImageError } from './errors.ts'
import { buildManifest, type PackagePin } from '../../ground/image-manifest.ts'
import { partitionTable, SECTOR, uuidFromDigest } from './mbr.ts'
import type { ImagePaths } from './paths.ts'
import { run } from './run.ts'
import { cachedImage, fromCache, recordBuild, storeFile, storeManifest } from './store.ts'
import type { BuiltImage } from './tiny.ts'

const here = path.dirname(fileURLToPath(import.meta.url))

export const DEBIAN = {
  suite: 'bookworm',
  mirrors: [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
  ],
  include: [
    'linux-image-cloud-amd64',
    'systemd-sysv',
    'udev',
    'dbus',
    'cloud-init',
    'openssh-server',
    'ifupdown',
    'isc-dhcp-client',
    'e2fsprogs',
    'cloud-guest-utils',
    'locales',
  ],
  /** The disk's virtual size; cloud-init grows the root partition to the overlay's size at first boot. */
  diskMiB: 2048,
  partitionStartSector: 2048,
  minMemoryMiB: 512,
} as const

/** Files written into the root filesystem after mmdebstrap (path -> content; UUID filled in). */
export function rootfsFiles(
  uuid: string,
  kernel: { vmlinuz: string; initrd: string },
): Record<string, string> {
  return {
    'etc/fstab': `UUID=${uuid} / ext4 errors=remount-ro 0 1\n`,
    'etc/hostname': 'debian\n',
    'etc/hosts': '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n',
    // Only the NoCloud seed: probing the other clouds' metadata services costs minutes under TCG.
    'etc/cloud/cloud.cfg.d/90-lean-cloud.cfg': 'datasource_list: [ NoCloud, None ]\n',
    'boot/extlinux/extlinux.conf': [
      'DEFAULT debian',
      'PROMPT 0',
      'TIMEOUT 1',
      'LABEL debian',
      `  LINUX /boot/${kernel.vmlinuz}`,
      `  INITRD /boot/${kernel.initrd}`,
      `  APPEND root=UUID=${uuid} ro console=tty0 console=ttyS0,115200n8`,
      '',
    ].join('\n'),
  }
}

const BUILDER_SOURCES = ['debian.ts', 'mbr.ts', '../../ground/image-manifest.ts', '../../ground/digest.ts']
const MBR_CODE = '/usr/lib/EXTLINUX/mbr.bin'

export async function debianInputs(): Promise<string> {
  const sources = await Promise.all(
    BUILDER_SOURCES.map(async (f) => [f, sha256Bytes(await readFile(path.join(here, f)))]),
  )
  return sha256Bytes(canonicalJson({ image: 'debian', debian: DEBIAN, sources: Object.fromEntries(sources) }))
}

export async function buildDebian(paths: ImagePaths, args: Pick<BuildArgs, 'rebuild'>): Promise<BuiltImage> {
  const inputs = await debianInputs()
  if (!args.rebuild) {
    const hit = await cachedImage(paths, 'debian', inputs)
    if (hit) return fromCache('debian', hit)
  }
  if (process.getuid?.() !== 0) {
    throw new ImageError(
      'building the Debian image needs root (mmdebstrap in root mode, a loop mount for extlinux): run it as root',
    )
  }
  const work = path.join(paths.work, `debian-${inputs.slice(0, 12)}`)
  const rootfs = path.join(work, 'rootfs')
  const mnt = path.join(work, 'mnt')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  await mkdir(paths.logs, { recursive: true })
  const logFile = path.join(paths.logs, 'debian-build.log')
  await writeFile(logFile, '')
  try {
    await step('mmdebstrap: Debian 12 with cloud-init (the longest step)', logFile, () =>
      run(
        'mmdebstrap',
        ['--variant=apt', `--include=${DEBIAN.include.join(',')}`, DEBIAN.suite, rootfs, ...DEBIAN.mirrors],
        { logFile },
      ),
    )
    const uuid = uuidFromDigest(sha256Bytes(`${inputs}/rootfs`))
    const boot = await readdir(path.join(rootfs, 'boot'))
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'))
    const initrd = boot.find((f) => f.startsWith('initrd.img-'))
    if (!vmlinuz || !initrd)
      throw new ImageError(`mmdebstrap made no kernel or initrd in ${rootfs}/boot (see ${logFile})`)
    for (const [file, content] of Object.entries(rootfsFiles(uuid, { vmlinuz, initrd }))) {
      await mkdir(path.dirname(path.join(rootfs, file)), { recursive: true })
      await writeFile(path.join(rootfs, file), content)
    }
    // Per-machine identity is made at first boot: systemd makes the machine id, cloud-init the ssh host keys.
    await writeFile(path.join(rootfs, 'etc/machine-id'), '')
    await rm(path.join(rootfs, 'var/lib/dbus/machine-id'), { force: true })
    for (const f of await readdir(path.join(rootfs, 'etc/ssh')))
      if (f.startsWith('ssh_host_')) await unlink(path.join(rootfs, 'etc/ssh', f))
    const packages = await installedPackages(rootfs)

    const raw = path.join(work, 'disk.raw')
    await step('disk: partition table, ext4 filesystem from the root directory', logFile, async () => {
      await writeDiskHeader(raw)
      const fsMiB = DEBIAN.diskMiB - (DEBIAN.partitionStartSector * SECTOR) / 2 ** 20
      // No 64bit or metadata_csum_seed: extlinux reads the filesystem and knows neither.
      await run(
        'mkfs.ext4',
        [
          '-q',
          '-F',
          '-L',
          'rootfs',
          '-U',
          uuid,
          '-O',
          '^64bit,^metadata_csum_seed',
          '-E',
          `offset=${DEBIAN.partitionStartSector * SECTOR}`,
          '-d',
          rootfs,
          raw,
          `${fsMiB}M`,
        ],
        { logFile },
      )
    })
    await rm(rootfs, { recursive: true, force: true })
    await step('extlinux: boot loader into the filesystem (loop mount)', logFile, async () => {
      await mkdir(mnt, { recursive: true })
      await run('mount', ['-o', `loop,offset=${DEBIAN.partitionStartSector * SECTOR}`, raw, mnt], { logFile })
      try {
        await run('extlinux', ['--install', path.join(mnt, 'boot/extlinux')], { logFile })
      } finally {
        await run('umount', [mnt], { logFile })
      }
    })
    const qcow2 = path.join(work, 'debian.qcow2')
    await step('qemu-img: compressing the disk to qcow2', logFile, () =>
      run('qemu-img', ['convert', '-c', '-O', 'qcow2', raw, qcow2], { logFile }),
    )
    const disk = await storeFile(paths, qcow2, 'qcow2', true)
    const built = buildManifest({
      name: 'debian',
      arch: 'x86_64',
      boot: { kind: 'disk', disk: { ...disk, format: 'qcow2' }, firmware: 'bios' },
      guest: { serial: 'ttyS0', seed: 'nocloud', minMemoryMiB: DEBIAN.minMemoryMiB },
      packages,
    })
    const manifestFile = await storeManifest(paths, built)
    await recordBuild(paths, 'debian', inputs, built.sha256)
    return { name: 'debian', sha256: built.sha256, manifest: built.manifest, manifestFile, cached: false }
  } finally {
    await run('umount', [mnt]).catch(() => undefined)
    await rm(work, { recursive: true, force: true })
  }
}

/** Runs a long step with a progress line every 30 s. */
async function step<T>(label: string, logFile: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now()
  console.log(`  debian: ${label}…`)
  const timer = setInterval(async () => {
    const last =
      (await readFile(logFile, 'utf8').catch(() => '')).trimEnd().split('\n').at(-1)?.slice(0, 100) ?? ''
    console.log(`  debian: … ${Math.round((Date.now() - started) / 1000)} s${last ? `: ${last}` : ''}`)
  }, 30_000)
  try {
    return await fn()
  } finally {
    clearInterval(timer)
    console.log(`  debian: done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}

/** A sparse raw disk of DEBIAN.diskMiB with syslinux's boot code and one bootable Linux partition. */
async function writeDiskHeader(raw: string): Promise<void> {
  const sectors = (DEBIAN.diskMiB * 2 ** 20) / SECTOR
  const code = await readFile(MBR_CODE).catch(() => {
    throw new ImageError(
      `${MBR_CODE} is missing: install the Debian package extlinux (\`bash infra/prerequisites.sh\`)`,
    )
  })
  const first = Buffer.alloc(SECTOR)
  code.copy(first, 0, 0, 440)
  partitionTable([
    {
      start: DEBIAN.partitionStartSector,
      sectors: sectors - DEBIAN.partitionStartSector,
      type: 0x83,
      bootable: true,
    },
  ]).copy(first, 446)
  const fh = await open(raw, 'w')
  try {
    await fh.write(first, 0, SECTOR, 0)
  } finally {
    await fh.close()
  }
  await truncate(raw, DEBIAN.diskMiB * 2 ** 20)
}

async function installedPackages(rootfs: string): Promise<PackagePin[]> {
  const out = await run('dpkg-query', [
    `--admindir=${path.join(rootfs, 'var/lib/dpkg')}`,
    '-W',
    '-f',
    '${Package}\t${Version}\n',
  ])
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, version] = line.split('\t')
      return { name: name!, version: version! }
    })
}
