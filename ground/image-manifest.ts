// An image is one manifest: a small canonical JSON file, stored under its
// own digest (images/<sha256>.json), that names every file the image is made
// of by digest and size. The manifest's sha256 is the image's identity; a
// driver fetches the manifest, checks its digest, then fetches and checks each
// file it names. Files are shared: images built from the same kernel point at
// the same images/<sha256>.vmlinuz.
import { canonicalJson, imageKey, sha256Bytes, SHA256, type ImageExtension } from './digest.ts'

export const MANIFEST_SCHEMA = 'lean-cloud.image/v1'

export interface ImageFile {
  /** `images/<sha256>.<ext>` in the artifacts bucket. */
  readonly key: string
  readonly sha256: string
  readonly size: number
}

/** A Debian package the image was built from, at the exact version used. */
export interface PackagePin {
  readonly name: string
  readonly version: string
  /** sha256 of the .deb, where the build downloaded it itself. */
  readonly sha256?: string
}

/** Booted by the hypervisor directly: no disk, no boot loader. */
export interface KernelBoot {
  readonly kind: 'kernel'
  readonly kernel: ImageFile
  readonly initrd: ImageFile
  readonly cmdline: string
}

/** Booted from its disk by the firmware (BIOS + extlinux); the driver puts a copy-on-write overlay on it. */
export interface DiskBoot {
  readonly kind: 'disk'
  readonly disk: ImageFile & { readonly format: 'qcow2' }
  readonly firmware: 'bios'
}

export interface GuestFacts {
  /** Serial console the guest logs to. */
  readonly serial: 'ttyS0'
  /** A line the guest prints on the serial console once its service is up, if it has one. */
  readonly readyLine?: string
  /** Guest port of the HTTP service, if any. */
  readonly httpPort?: number
  /** How the guest is configured: a NoCloud seed (a cdrom labelled `cidata`). */
  readonly seed: 'nocloud'
  readonly minMemoryMiB: number
}

export interface ImageManifest {
  readonly schema: typeof MANIFEST_SCHEMA
  readonly name: string
  readonly arch: 'x86_64'
  readonly boot: KernelBoot | DiskBoot
  readonly guest: GuestFacts
  readonly packages: readonly PackagePin[]
}

export interface BuiltManifest {
  readonly manifest: ImageManifest
  /** The exact bytes stored; the digest is of these. */
  readonly text: string
  readonly sha256: string
  readonly key: string
}

/** The file entry for a file of the given digest, size and kind. */
export function imageFile(sha256: string, size: number, ext: ImageExtension): ImageFile {
  return { key: imageKey(sha256, ext), sha256, size }
}

export function buildManifest(fields: Omit<ImageManifest, 'schema'>): BuiltManifest {
  const manifest: ImageManifest = {
    schema: MANIFEST_SCHEMA,
    ...fields,
    // Sorted so the digest does not depend on the order packages were resolved in.
    packages: [...fields.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  }
  checkManifest(manifest)
  const text = canonicalJson(manifest)
  const sha256 = sha256Bytes(text)
  return { manifest, text, sha256, key: imageKey(sha256, 'json') }
}

/** The files a manifest names, in the order a driver should fetch them. */
export function manifestFiles(m: ImageManifest): ImageFile[] {
  return m.boot.kind === 'kernel' ? [m.boot.kernel, m.boot.initrd] : [m.boot.disk]
}

/**
 * Parses a manifest as fetched, checking that its bytes have the digest it
 * was asked for under and that it has the shape of this schema version.
 */
export function parseManifest(text: string, expectedSha256?: string): ImageManifest {
  if (expectedSha256 !== undefined && sha256Bytes(text) !== expectedSha256) {
    throw new Error(
      `image manifest does not match its digest: expected sha256 ${expectedSha256}, got ${sha256Bytes(text)}`,
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new Error(`image manifest is not JSON: ${(err as Error).message}`)
  }
  checkManifest(value)
  return value
}

function checkManifest(value: unknown): asserts value is ImageManifest {
  const m = value as Partial<ImageManifest> | null
  const bad = (what: string): never => {
    throw new Error(`invalid image manifest: ${what}`)
  }
  if (!m || typeof m !== 'object') bad('not an object')
  if (m!.schema !== MANIFEST_SCHEMA) bad(`schema must be '${MANIFEST_SCHEMA}', got '${String(m!.schema)}'`)
  if (typeof m!.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(m!.name))
    bad('name must be lowercase letters, digits and dashes')
  if (m!.arch !== 'x86_64') bad(`arch must be x86_64, got '${String(m!.arch)}'`)
  const boot = m!.boot
  if (!boot || (boot.kind !== 'kernel' && boot.kind !== 'disk')) bad("boot.kind must be 'kernel' or 'disk'")
  const files: Array<[string, ImageFile | undefined, ImageExtension]> =
    boot!.kind === 'kernel'
      ? [
          ['boot.kernel', boot!.kernel, 'vmlinuz'],
          ['boot.initrd', boot!.initrd, 'cpio.gz'],
        ]
      : [['boot.disk', boot!.disk, 'qcow2']]
  for (const [where, f, ext] of files) {
    if (!f || typeof f.sha256 !== 'string' || !SHA256.test(f.sha256))
      bad(`${where}.sha256 must be a sha256 digest`)
    if (!Number.isSafeInteger(f!.size) || f!.size <= 0) bad(`${where}.size must be a positive integer`)
    if (f!.key !== imageKey(f!.sha256, ext)) bad(`${where}.key must be ${imageKey(f!.sha256, ext)}`)
  }
  if (boot!.kind === 'kernel' && typeof boot!.cmdline !== 'string') bad('boot.cmdline must be a string')
  if (boot!.kind === 'disk' && (boot!.disk.format !== 'qcow2' || boot!.firmware !== 'bios'))
    bad("a disk image must be qcow2 with firmware 'bios'")
  const g = m!.guest
  if (
    !g ||
    g.serial !== 'ttyS0' ||
    g.seed !== 'nocloud' ||
    !Number.isSafeInteger(g.minMemoryMiB) ||
    g.minMemoryMiB <= 0
  )
    bad('guest must name serial ttyS0, seed nocloud and a positive minMemoryMiB')
  if (
    g!.httpPort !== undefined &&
    (!Number.isSafeInteger(g!.httpPort) || g!.httpPort < 1 || g!.httpPort > 65535)
  )
    bad('guest.httpPort must be a port number')
  if (
    !Array.isArray(m!.packages) ||
    m!.packages.some((p) => typeof p?.name !== 'string' || typeof p.version !== 'string')
  )
    bad('packages must be a list of { name, version }')
}
