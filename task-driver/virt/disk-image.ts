// What an untrusted disk image may be: one qcow2 file standing alone. A qcow2
// header can name a backing file or an external data file (a host path, or a
// `json:` description of one), which qemu-img and QEMU would then open with
// their own rights. We read the header with `qemu-img info`, which opens only
// the image itself (never its backing or data file), with the format forced so
// nothing is probed, and refuse anything that points outside the file.
import { execFile } from 'node:child_process'

/** The parts of `qemu-img info --output=json` we judge. */
interface QemuImgInfo {
  format?: unknown
  'virtual-size'?: unknown
  'backing-filename'?: unknown
  'full-backing-filename'?: unknown
  'format-specific'?: { type?: unknown; data?: { 'data-file'?: unknown; 'data-file-raw'?: unknown } }
}

export interface DiskImageLimits {
  /** The largest virtual disk accepted, in bytes. */
  readonly maxVirtualBytes?: number
}

export type DiskImageVerdict =
  | { readonly ok: true; readonly format: string; readonly virtualBytes: number }
  | { readonly ok: false; readonly reason: string }

const refuse = (reason: string): DiskImageVerdict => ({ ok: false, reason })

/** Judges what `qemu-img info --output=json` said of an image expected to be `format`. Pure. */
export function judgeDiskImage(
  info: unknown,
  format: 'qcow2',
  limits: DiskImageLimits = {},
): DiskImageVerdict {
  if (typeof info !== 'object' || info === null) return refuse('qemu-img could not describe it')
  const i = info as QemuImgInfo
  if (i.format !== format)
    return refuse(`it is not a ${format} image (qemu-img reads it as ${String(i.format)})`)
  if (i['backing-filename'] !== undefined || i['full-backing-filename'] !== undefined)
    return refuse('it names a backing file; an uploaded image must stand alone')
  const data = i['format-specific']?.data
  if (data?.['data-file'] !== undefined || data?.['data-file-raw'] !== undefined)
    return refuse('it names an external data file; an uploaded image must stand alone')
  const virtualBytes = i['virtual-size']
  if (typeof virtualBytes !== 'number' || !Number.isSafeInteger(virtualBytes) || virtualBytes <= 0)
    return refuse('qemu-img reports no virtual size')
  if (limits.maxVirtualBytes !== undefined && virtualBytes > limits.maxVirtualBytes)
    return refuse(
      `its virtual disk is ${virtualBytes} bytes, more than the ${limits.maxVirtualBytes} allowed`,
    )
  return { ok: true, format, virtualBytes }
}

/** The `qemu-img info` arguments: JSON, the format forced (no probing), the top image only. */
export function qemuImgInfoArgs(file: string, format: 'qcow2'): string[] {
  return ['info', '--output=json', '-f', format, file]
}

/**
 * Inspects `file` with the real qemu-img. A file qemu-img cannot open as
 * `format` is refused with its words; a missing qemu-img is an error.
 */
export function inspectDiskImage(
  file: string,
  format: 'qcow2',
  limits: DiskImageLimits = {},
  timeoutMs = 30_000,
): Promise<DiskImageVerdict> {
  return new Promise((resolve, reject) => {
    execFile(
      'qemu-img',
      qemuImgInfoArgs(file, format),
      { timeout: timeoutMs, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT')
          return reject(new Error('qemu-img is not installed (Debian package qemu-utils)'))
        if (err) {
          const said =
            stderr
              .trim()
              .split('\n')
              .pop()
              ?.replace(/^qemu-img:\s*/, '') || err.message
          // qemu-img names the file in its message: the reason is what follows it.
          return resolve(refuse(`qemu-img cannot read it as ${format}: ${said.replace(file, 'the file')}`))
        }
        try {
          resolve(judgeDiskImage(JSON.parse(stdout), format, limits))
        } catch {
          resolve(refuse('qemu-img printed no JSON'))
        }
      },
    )
  })
}
