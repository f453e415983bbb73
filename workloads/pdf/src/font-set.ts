// The fonts the PDF service draws with, in the order they are tried, and the
// choice of font per character (font fallback). In the component the fonts
// are the wasm host's (host-fonts.ts); in Node, fontkit's over the same files
// (fontkit-fonts.ts).
import { getScript, isMark } from 'unicode-properties'
import type { FontCollection, TextFont } from './text-font.ts'

/**
 * Characters that draw nothing and need no glyph: spaces are advanced by
 * width, joiners and direction marks only steer shaping and bidi, and
 * variation selectors pick among a base character's glyphs.
 */
export function isInvisible(cp: number): boolean {
  return (
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0xad || // soft hyphen
    cp === 0x034f ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2069) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    cp === 0xfeff ||
    (cp >= 0xe0100 && cp <= 0xe01ef)
  )
}

/** Combining marks and joiners belong with the character before them. */
export function attachesToPrevious(cp: number): boolean {
  return isMark(cp) || cp === 0x200c || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f)
}

/** Characters with no script of their own (spaces, digits, punctuation) stay in the font around them if it has them. */
// (Tables from unicode-properties rather than \p{Script=…}: the component's
// JavaScript engine is built without the Unicode data regexes need for that.)
function isCommon(cp: number): boolean {
  const script = getScript(cp)
  return script === 'Common' || script === 'Inherited'
}

/** What the font choice needs to know of a character, computed once per character per instance. */
interface CharInfo {
  /** A bit per font (up to 31 fonts) that has a glyph for it. */
  readonly fonts: number
  readonly first: number
  readonly invisible: boolean
  readonly attaches: boolean
  readonly common: boolean
}

export class FontSet {
  readonly fonts: readonly TextFont[]
  readonly files: readonly string[]
  // Per character, not per request: a document repeats its characters, and an
  // instance sees the same scripts again and again (each coverage question
  // is a cmap lookup per font, and in the component a call to the host).
  private readonly chars = new Map<number, CharInfo>()
  private readonly caches = new Map<string, Map<string, unknown>>()

  private readonly coverage: (cp: number) => number

  constructor(collection: FontCollection) {
    if (collection.fonts.length === 0 || collection.fonts.length > 31) throw new Error('FontSet: between 1 and 31 fonts are needed')
    this.fonts = collection.fonts
    this.files = collection.fonts.map((f) => f.file)
    this.coverage = collection.coverage
  }

  private info(cp: number): CharInfo {
    let info = this.chars.get(cp)
    if (!info) {
      const fonts = this.coverage(cp)
      info = { fonts, first: fonts === 0 ? -1 : 31 - Math.clz32(fonts & -fonts), invisible: isInvisible(cp), attaches: attachesToPrevious(cp), common: isCommon(cp) }
      if (this.chars.size > 65536) this.chars.clear()
      this.chars.set(cp, info)
    }
    return info
  }

  /** A cache that lives as long as these fonts (results computed from them, such as shaped text). */
  cache<T>(name: string): Map<string, T> {
    let cache = this.caches.get(name)
    if (!cache) this.caches.set(name, (cache = new Map()))
    return cache as Map<string, T>
  }

  /** Whether font `font` has a glyph for the character. */
  has(font: number, cp: number): boolean {
    return (this.info(cp).fonts & (1 << font)) !== 0
  }

  /** The first font that has the character, or undefined. */
  firstWith(cp: number): number | undefined {
    const first = this.info(cp).first
    return first === -1 ? undefined : first
  }

  /**
   * The font (index) for each code unit of `text`: the first font with the
   * character, except that marks and script-less characters stay in the
   * previous character's font when it has them, so a word is not split
   * across fonts by its accents or punctuation. Invisible characters join the
   * previous font. -1 where no font has the character.
   */
  assign(text: string): Int16Array {
    const fontOf = new Int16Array(text.length).fill(-1)
    let previous = -1
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!
      const width = cp > 0xffff ? 2 : 1
      let chosen: number
      const info = this.info(cp)
      const previousHas = previous >= 0 && (info.fonts & (1 << previous)) !== 0
      if (info.invisible || (info.attaches && previous >= 0)) chosen = previousHas || info.invisible ? previous : info.first
      else if (previousHas && info.common) chosen = previous
      else chosen = info.first
      if (chosen === -1 && info.invisible) chosen = 0
      fontOf[i] = chosen
      if (width === 2) fontOf[i + 1] = chosen
      if (chosen !== -1) previous = chosen
      i += width
    }
    return fontOf
  }

  /** The distinct characters of `text` no font can draw, in order of first appearance. */
  undrawable(text: string): string[] {
    const missing = new Set<string>()
    for (const ch of text) {
      const cp = ch.codePointAt(0)!
      const info = this.info(cp)
      if (!info.invisible && cp !== 0x20 && info.first === -1) missing.add(ch)
    }
    return [...missing]
  }
}
