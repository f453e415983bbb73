// The fonts the PDF service draws with, in the order they are tried, and the
// choice of font per character (font fallback). The font files are bundled
// into the component at build time (see fonts.ts); the Node twin reads the
// same files from disk.
import * as fontkit from 'fontkit'
import type { Font } from 'fontkit'
import { getScript, isMark } from 'unicode-properties'

export interface FontSource {
  /** File name, for messages (e.g. NotoSansArabic-Regular.ttf). */
  readonly file: string
  readonly bytes: Uint8Array
  /** For a collection (.ttc): the PostScript name of the face to use. */
  readonly face?: string
}

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

export class FontSet {
  readonly fonts: readonly Font[]
  readonly files: readonly string[]

  constructor(sources: readonly FontSource[]) {
    if (sources.length === 0) throw new Error('FontSet: at least one font is needed')
    this.files = sources.map((s) => s.file)
    this.fonts = sources.map((source) => {
      // fontkit reads a Buffer's API only where a Uint8Array has the same.
      const opened = fontkit.create(source.bytes as Buffer, source.face)
      if (!('layout' in opened)) throw new Error(`${source.file}: a font collection; name a face (one of ${opened.fonts.map((f) => f.postscriptName).join(', ')})`)
      return opened
    })
  }

  /** The first font that has the character, or undefined. */
  firstWith(cp: number): number | undefined {
    const index = this.fonts.findIndex((font) => font.hasGlyphForCodePoint(cp))
    return index === -1 ? undefined : index
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
      const previousHas = previous >= 0 && this.fonts[previous]!.hasGlyphForCodePoint(cp)
      if (isInvisible(cp) || (attachesToPrevious(cp) && previous >= 0)) chosen = previousHas || isInvisible(cp) ? previous : this.firstWith(cp) ?? -1
      else if (previousHas && isCommon(cp)) chosen = previous
      else chosen = this.firstWith(cp) ?? -1
      if (chosen === -1 && isInvisible(cp)) chosen = 0
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
      if (!isInvisible(cp) && cp !== 0x20 && this.firstWith(cp) === undefined) missing.add(ch)
    }
    return [...missing]
  }
}
