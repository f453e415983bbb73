// The PDF service's fonts for code that runs in Node (the plain Node twin,
// tests): the files the wasm host serves to the component (the same list,
// font-list.ts), read from Debian's folders and opened with fontkit.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { bundledFonts } from '../pdf/src/font-list.ts'
import { FontSet } from '../pdf/src/font-set.ts'
import { fontkitFonts } from '../pdf/src/fontkit-fonts.ts'

/** Where the fonts are looked up, as the wasm host looks them up: LEAN_FONT_DIR, then Debian's fonts-noto-core, fonts-droid-fallback, fonts-nanum and fonts-dejavu-core. */
export const fontDirs = [process.env.LEAN_FONT_DIR, '/usr/share/fonts/truetype/noto', '/usr/share/fonts/truetype/droid', '/usr/share/fonts/truetype/nanum', '/usr/share/fonts/truetype/dejavu'].filter(
  (d): d is string => Boolean(d),
)

/** The message for a font file that is not installed. */
export function fontMissing(file: string): string {
  return `font ${file} not found in ${fontDirs.join(', ')} (run infra/prerequisites.sh: it installs fonts-noto-core, fonts-droid-fallback, fonts-nanum and fonts-dejavu-core; or set LEAN_FONT_DIR)`
}

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
  return new FontSet(fontkitFonts(sources))
}
