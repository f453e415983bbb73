// A NoCloud seed: an ISO 9660 image labelled `cidata` holding `meta-data`
// and `user-data`, which cloud-init (and the tiny image's /init) read at boot.
// The documents are written here; the ISO is made by cloud-localds
// (cloud-image-utils), which each caller runs its own way.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

export interface SeedContent {
  readonly instanceId: string
  readonly hostname: string
  /** The whole user-data document, `#cloud-config` first line included. */
  readonly userData: string
}

/** The meta-data document: YAML with the instance id and the hostname. */
export function metaData(seed: Pick<SeedContent, 'instanceId' | 'hostname'>): string {
  for (const [k, v] of Object.entries(seed)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(v))
      throw new Error(`seed ${k} '${v}' must be letters, digits, dots and dashes`)
  }
  return `instance-id: ${seed.instanceId}\nlocal-hostname: ${seed.hostname}\n`
}

/** Writes `meta-data` and `user-data` into `dir`; answers the ISO's path and the cloud-localds arguments that make it. */
export async function writeSeedDocuments(dir: string, seed: SeedContent): Promise<{ iso: string; args: string[] }> {
  await mkdir(dir, { recursive: true })
  const meta = path.join(dir, 'meta-data')
  const user = path.join(dir, 'user-data')
  await writeFile(meta, metaData({ instanceId: seed.instanceId, hostname: seed.hostname }))
  await writeFile(user, seed.userData)
  const iso = path.join(dir, 'seed.iso')
  return { iso, args: [iso, user, meta] }
}
