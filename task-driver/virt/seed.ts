// The NoCloud seed (an ISO labelled `cidata`) a VM reads its hostname and
// user-data from. The image builder's writer (cloud-localds) is reused; its
// failures become VirtErrors.
import { rm } from 'node:fs/promises'
import { writeSeed as writeImageSeed, type SeedContent } from '../../infra/images/seed.ts'
import { VirtError } from './errors.ts'

export type { SeedContent }

/** Writes `dir/seed.iso` (and its `meta-data`/`user-data` sources) and returns the ISO's path. */
export async function writeSeed(dir: string, seed: SeedContent): Promise<string> {
  try {
    return await writeImageSeed(dir, seed)
  } catch (err) {
    const msg = (err as Error).message
    const code = /not installed/.test(msg) ? 'LEAN_ERR_VIRT_NOT_INSTALLED' : 'LEAN_ERR_VIRT_DISK'
    throw new VirtError(code, `could not write the NoCloud seed in ${dir}: ${msg}`, { cause: err })
  }
}

export async function removeSeed(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
