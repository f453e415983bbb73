// The image builder's NoCloud seed (ground/nocloud-seed.ts), made with its own runner.
import { writeSeedDocuments, type SeedContent } from '../../ground/nocloud-seed.ts'
import { run } from './run.ts'

export { metaData, type SeedContent } from '../../ground/nocloud-seed.ts'

/** Writes `dir/seed.iso` with cloud-localds (cloud-image-utils) and returns its path. */
export async function writeSeed(dir: string, seed: SeedContent): Promise<string> {
  const { iso, args } = await writeSeedDocuments(dir, seed)
  await run('cloud-localds', args)
  return iso
}
