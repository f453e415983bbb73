// Copy-on-write overlays: the guest writes to a qcow2 file backed by the image,
// never to the image itself (`qemu-img create -b`, ~0.03 s whatever the size).
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { notInstalled, VirtError } from './errors.ts'

export interface OverlaySpec {
  /** The image's qcow2 file (read-only for the guest). */
  readonly backing: string
  readonly overlay: string
  /** Virtual size, as qemu-img takes it ('10G'); the backing file's size when omitted. */
  readonly size?: string
}

/** The qemu-img arguments for an overlay (pure). */
export function overlayArgs(s: OverlaySpec): string[] {
  if (!s.backing.startsWith('/') || !s.overlay.startsWith('/'))
    throw new VirtError(
      'LEAN_ERR_VIRT_SPEC',
      `overlay and backing file must be absolute paths: ${s.overlay}, ${s.backing}`,
    )
  if (s.size !== undefined && !/^\d+[KMGT]?$/.test(s.size))
    throw new VirtError('LEAN_ERR_VIRT_SPEC', `overlay size must be like 10G, got '${s.size}'`)
  return [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    s.backing,
    '-F',
    'qcow2',
    s.overlay,
    ...(s.size ? [s.size] : []),
  ]
}

export function createOverlay(s: OverlaySpec, timeoutMs = 30_000): Promise<void> {
  const args = overlayArgs(s)
  return new Promise((resolve, reject) => {
    execFile('qemu-img', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      const command = ['qemu-img', ...args]
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(notInstalled('qemu-img', command))
      reject(
        new VirtError(
          'LEAN_ERR_VIRT_DISK',
          `\`${command.join(' ')}\` failed: ${stderr.trim() || err.message}`,
          {
            command,
            stderr: stderr.trim(),
          },
        ),
      )
    })
  })
}

export async function removeOverlay(overlay: string): Promise<void> {
  await rm(overlay, { force: true })
}
