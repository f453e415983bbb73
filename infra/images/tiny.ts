// The tiny image: Debian's cloud kernel, booted directly, with a small
// initramfs of busybox-static, the kernel modules for virtio, the cdrom and
// ISO 9660, and our own /init (guest/init.sh). No disk.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { buildCpio, type CpioEntry } from './cpio.ts'
import { fetchDeb, unpackDeb } from './debs.ts'
import { canonicalJson, sha256Bytes } from '../../ground/digest.ts'
import { ImageError } from './errors.ts'
import { loadOrder, modinfoSection, moduleDepends, moduleName } from './kmod.ts'
import { buildManifest, type ImageManifest } from '../../ground/image-manifest.ts'
import type { ImagePaths } from './paths.ts'
import { readPins, updatePins, type TinyPins } from './pins.ts'
import { run } from './run.ts'
import { cachedImage, fromCache, recordBuild, storeFile, storeManifest } from './store.ts'

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * Modules the initramfs loads (their dependencies come along): the virtio
 * network, disk and SCSI drivers; the IDE (ata_piix) and SCSI cdrom drivers
 * and ISO 9660 for the seed; the ACPI power button and evdev for acpid.
 */
export const TINY_MODULES = [
  'virtio_pci',
  'virtio_net',
  'virtio_blk',
  'virtio_scsi',
  'ata_piix',
  'sr_mod',
  'isofs',
  'button',
  'evdev',
] as const

/** The kernel command line a driver boots the tiny image with. */
export const TINY_CMDLINE = 'console=ttyS0 quiet panic=-1'

/** Source files whose content shapes the image: a change to any of them is a new build. */
const BUILDER_SOURCES = [
  'tiny.ts',
  'cpio.ts',
  'kmod.ts',
  '../../ground/image-manifest.ts',
  '../../ground/digest.ts',
  'guest/init.sh',
  'guest/udhcpc.sh',
  'guest/power-button.sh',
]

export interface BuiltImage {
  readonly name: string
  readonly sha256: string
  readonly manifest: ImageManifest
  readonly manifestFile: string
  /** True when the cache already held an image built from the same inputs. */
  readonly cached: boolean
}

/** Digest of everything the tiny image is made from: the pins, the module list, the command line and the builder's own sources. */
export async function tinyInputs(pins: TinyPins): Promise<string> {
  const sources = await Promise.all(
    BUILDER_SOURCES.map(async (f) => [f, sha256Bytes(await readFile(path.join(here, f)))]),
  )
  return sha256Bytes(
    canonicalJson({
      image: 'tiny',
      pins,
      modules: TINY_MODULES,
      cmdline: TINY_CMDLINE,
      sources: Object.fromEntries(sources),
    }),
  )
}

export async function buildTiny(
  paths: ImagePaths,
  options: { rebuild: boolean; updatePins: boolean },
): Promise<BuiltImage> {
  const pins = options.updatePins
    ? await updatePins(paths)
    : ((await readPins()) ?? (await updatePins(paths)))
  const inputs = await tinyInputs(pins)
  if (!options.rebuild) {
    const hit = await cachedImage(paths, 'tiny', inputs)
    if (hit) return fromCache('tiny', hit)
  }

  console.log(
    `  tiny: ${pins.kernel.name} ${pins.kernel.version}, ${pins.busybox.name} ${pins.busybox.version}`,
  )
  const kernelDeb = await fetchDeb(paths, pins.kernel.name, pins.kernel.version, pins.kernel.sha256)
  const busyboxDeb = await fetchDeb(paths, pins.busybox.name, pins.busybox.version, pins.busybox.sha256)
  console.log('  tiny: unpacking the kernel and busybox')
  const kernelDir = await unpackDeb(paths, kernelDeb)
  const busyboxDir = await unpackDeb(paths, busyboxDeb)

  const vmlinuz = await onlyFile(path.join(kernelDir, 'boot'), /^vmlinuz-/, kernelDeb.name)
  const release = path.basename(vmlinuz).slice('vmlinuz-'.length)
  const modules = await moduleFiles(path.join(kernelDir, 'lib', 'modules', release, 'kernel'))
  const order = await resolveModules(modules)
  console.log(`  tiny: modules ${order.join(' ')}`)

  const entries = await initramfsEntries({
    busyboxDir,
    kernelDir,
    kernelPackage: kernelDeb.name,
    modules,
    order,
  })
  const work = path.join(paths.work, `tiny-${inputs.slice(0, 12)}`)
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  const initrdFile = path.join(work, 'initramfs.cpio.gz')
  await writeFile(initrdFile, gzipSync(buildCpio(entries), { level: 9 }))

  const kernel = await storeFile(paths, vmlinuz, 'vmlinuz')
  const initrd = await storeFile(paths, initrdFile, 'cpio.gz', true)
  await rm(work, { recursive: true, force: true })

  const built = buildManifest({
    name: 'tiny',
    arch: 'x86_64',
    boot: { kind: 'kernel', kernel, initrd, cmdline: TINY_CMDLINE },
    guest: { serial: 'ttyS0', readyLine: 'READY', httpPort: 8080, seed: 'nocloud', minMemoryMiB: 128 },
    packages: [
      { name: pins.kernel.name, version: pins.kernel.version, sha256: pins.kernel.sha256 },
      { name: pins.busybox.name, version: pins.busybox.version, sha256: pins.busybox.sha256 },
    ],
  })
  const manifestFile = await storeManifest(paths, built)
  await recordBuild(paths, 'tiny', inputs, built.sha256)
  return { name: 'tiny', sha256: built.sha256, manifest: built.manifest, manifestFile, cached: false }
}

async function onlyFile(dir: string, pattern: RegExp, pkg: string): Promise<string> {
  const found = (await readdir(dir).catch(() => [])).filter((f) => pattern.test(f))
  if (found.length !== 1)
    throw new ImageError(`expected one file matching ${pattern} in ${pkg}'s ${dir}, found ${found.length}`)
  return path.join(dir, found[0]!)
}

/** Every module file of the kernel package, by module name. */
async function moduleFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.ko'))
      files.set(moduleName(entry.name), path.join(entry.parentPath, entry.name))
  }
  if (files.size === 0)
    throw new ImageError(
      `no kernel modules (.ko) under ${dir}: Debian may now compress them; the tiny image builder needs updating`,
    )
  return files
}

async function resolveModules(files: Map<string, string>): Promise<string[]> {
  // Only the modules reachable from TINY_MODULES are read.
  const depends = new Map<string, string[]>()
  const read = async (name: string): Promise<void> => {
    if (depends.has(name) || !files.has(name)) return
    const deps = moduleDepends(modinfoSection(await readFile(files.get(name)!)))
    depends.set(name, deps)
    for (const d of deps) await read(d)
  }
  for (const m of TINY_MODULES) await read(m)
  try {
    return loadOrder(TINY_MODULES, (name) => depends.get(name))
  } catch (err) {
    throw new ImageError(
      `${(err as Error).message}: the tiny image's module list (TINY_MODULES in infra/images/tiny.ts) does not fit this kernel`,
    )
  }
}

interface InitramfsParts {
  readonly busyboxDir: string
  readonly kernelDir: string
  readonly kernelPackage: string
  readonly modules: Map<string, string>
  readonly order: readonly string[]
}

async function initramfsEntries(p: InitramfsParts): Promise<CpioEntry[]> {
  const busybox = path.join(p.busyboxDir, 'bin', 'busybox')
  const dirs = [
    'bin',
    'dev',
    'etc',
    'etc/acpi',
    'etc/acpi/PWRF',
    'lib',
    'lib/modules',
    'proc',
    'run',
    'sbin',
    'seed',
    'sys',
    'tmp',
    'usr',
    'usr/bin',
    'usr/sbin',
    'usr/share',
    'usr/share/doc',
    'www',
  ]
  const entries: CpioEntry[] = dirs.map((d) => ({ path: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 }))
  const file = async (to: string, from: string, mode = 0o644): Promise<void> => {
    entries.push({ path: to, type: 'file', data: await readFile(from), mode })
  }
  await file('bin/busybox', busybox, 0o755)
  // One symlink per applet, where busybox itself would install it (bin/sh, sbin/insmod, usr/bin/...).
  for (const applet of (await run(busybox, ['--list-full'])).split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox') continue
    for (const dir of parentDirs(applet))
      if (!entries.some((e) => e.path === dir)) entries.push({ path: dir, type: 'dir', mode: 0o755 })
    entries.push({ path: applet, type: 'symlink', target: '/bin/busybox' })
  }
  // The kernel writes early messages to /dev/console before devtmpfs is mounted.
  entries.push({ path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 })
  await file('init', path.join(here, 'guest', 'init.sh'), 0o755)
  await file('etc/udhcpc.sh', path.join(here, 'guest', 'udhcpc.sh'), 0o755)
  await file('etc/acpi/PWRF/00000080', path.join(here, 'guest', 'power-button.sh'), 0o755)
  for (const name of p.order) await file(`lib/modules/${name}.ko`, p.modules.get(name)!)
  entries.push({ path: 'lib/modules/load-order', type: 'file', data: Buffer.from(p.order.join('\n') + '\n') })
  // The licences of what the image carries travel with it.
  for (const [pkg, dir] of [
    ['busybox-static', p.busyboxDir],
    [p.kernelPackage, p.kernelDir],
  ] as const) {
    entries.push({ path: `usr/share/doc/${pkg}`, type: 'dir', mode: 0o755 })
    await file(`usr/share/doc/${pkg}/copyright`, path.join(dir, 'usr', 'share', 'doc', pkg, 'copyright'))
  }
  return entries
}

function parentDirs(file: string): string[] {
  const parts = file.split('/').slice(0, -1)
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'))
}
