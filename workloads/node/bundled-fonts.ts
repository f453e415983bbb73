// The PDF service's fonts for code that runs in Node (the plain Node twin,
// tests): the same files the component bundles, read from Debian's folders.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fontDirs, fontMissing } from '../build-component.ts'
import { bundledFonts } from '../pdf/src/font-list.ts'
import { FontSet } from '../pdf/src/font-set.ts'

/** The PDF service's bundled fonts, read from the same Debian folders the component build reads. */
export async function loadBundledFonts(): Promise<FontSet> {
  const sources = []
  for (const { file, face } of bundledFonts) {
    let bytes: Uint8Array | undefined
    for (const dir of fontDirs) {
      bytes = await readFile(path.join(dir, file)).catch(() => undefined)
      if (bytes) break
    }
    if (!bytes) throw new Error(fontMissing(file))
    sources.push({ file, bytes, ...(face !== undefined && { face }) })
  }
  return new FontSet(sources)
}
