// The NoCloud seed (an ISO labelled `cidata`) a VM reads its hostname and
// user-data from (ground/nocloud-seed.ts), made with cloud-localds; its
// failures become VirtErrors.
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { writeSeedDocuments, type SeedContent } from '../../ground/nocloud-seed.ts'
import { VirtError } from './errors.ts'

export type { SeedContent }

const exec = promisify(execFile)

/** Writes `dir/seed.iso` (and its `meta-data`/`user-data` sources) and returns the ISO's path. */
export async function writeSeed(dir: string, seed: SeedContent): Promise<string> {
  try {
    const { iso, args } = await writeSeedDocuments(dir, seed)
    await exec('cloud-localds', args, { timeout: 60_000 })
    return iso
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') {
      throw new VirtError('LEAN_ERR_VIRT_NOT_INSTALLED', 'cloud-localds is not installed: install the Debian package cloud-image-utils (`bash infra/prerequisites.sh`)', { cause: err })
    }
    throw new VirtError('LEAN_ERR_VIRT_DISK', `could not write the NoCloud seed in ${dir}: ${e.stderr?.trim() || e.message}`, { cause: err })
  }
}

export async function removeSeed(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
