// The PDF service's fonts done by fontkit, in JavaScript: for code that runs
// in Node (the plain Node twin, the tests). The component leaves this work to
// the wasm host instead (host-fonts.ts).
import * as fontkit from 'fontkit'
import type { Font, GlyphRun } from 'fontkit'
import { correctBacktrackOrder } from './backtrack-order.ts'
import { hasSaraAm, splitSaraAm } from './lao.ts'
import { hasMyanmar, MYANMAR_FEATURES, myanmarVisualOrder } from './myanmar.ts'
import type { FontCollection, ShapedRun, TextFont } from './text-font.ts'
import { mirrored } from './text-layout.ts'

export interface FontSource {
  /** File name, for messages (e.g. NotoSansArabic-Regular.ttf). */
  readonly file: string
  readonly bytes: Uint8Array
  /** For a collection (.ttc): the PostScript name of the face to use. */
  readonly face?: string
}

/**
 * fontkit's layout; where it throws, again without mark positioning.
 * fontkit assumes a mark finds an anchor on the glyph before it, and throws
 * where the font has none (e.g. Lao sara am followed by a vowel below:
 * U+0EB3 U+0EB8); such text is drawn with the marks at their default place
 * rather than refused or answered with a 500.
 */
function layoutRun(face: Font, input: string, features: string[] | undefined, rtl: boolean): GlyphRun {
  const direction = rtl ? 'rtl' : 'ltr'
  try {
    return face.layout(input, features, undefined, undefined, direction)
  } catch {
    const without: Record<string, boolean> = { mark: false, mkmk: false }
    for (const feature of features ?? []) without[feature] = true
    return face.layout(input, without, undefined, undefined, direction)
  }
}

class FontkitFont implements TextFont {
  readonly postscriptName: string
  readonly unitsPerEm: number
  readonly ascent: number
  readonly descent: number
  readonly capHeight: number
  readonly italicAngle: number
  readonly bbox: TextFont['bbox']

  constructor(
    readonly file: string,
    private readonly font: Font,
  ) {
    if ((font as unknown as Record<string, unknown>)['CFF ']) throw new Error(`${file}: a CFF font; the PDF service embeds TrueType fonts only`)
    this.postscriptName = font.postscriptName
    this.unitsPerEm = font.unitsPerEm
    this.ascent = font.ascent
    this.descent = font.descent
    this.capHeight = font.capHeight || font.ascent
    this.italicAngle = font.italicAngle
    const { minX, minY, maxX, maxY } = font.bbox
    this.bbox = { minX, minY, maxX, maxY }
  }

  hasGlyph(cp: number): boolean {
    return this.font.hasGlyphForCodePoint(cp)
  }

  shape(text: string, rtl: boolean): ShapedRun {
    correctBacktrackOrder(this.font)
    // fontkit does not mirror brackets in right-to-left text; the text it is given is.
    let input = text
    if (rtl) {
      input = ''
      for (const ch of text) input += mirrored(ch)
    }
    // fontkit shapes Myanmar and Lao with its default shaper: what their own
    // shapers would do first is done here (see myanmar.ts and lao.ts).
    const myanmar = hasMyanmar(input)
    if (myanmar) input = myanmarVisualOrder(input)
    if (hasSaraAm(input)) input = splitSaraAm(input)
    const run = layoutRun(this.font, input, myanmar ? [...MYANMAR_FEATURES] : undefined, rtl)
    // fontkit keeps one glyph object per id, with the code points of the text it was first made for.
    return { glyphs: run.glyphs.map((g) => ({ id: g.id, advance: g.advanceWidth, text: String.fromCodePoint(...g.codePoints) })), positions: run.positions }
  }

  subset(glyphIds: readonly number[]): Uint8Array {
    // (@types/fontkit says includeGlyph answers a boolean; it answers the glyph's id in the subset.)
    const subset = this.font.createSubset() as unknown as { includeGlyph(id: number): number; encode(): Uint8Array }
    for (const id of glyphIds) subset.includeGlyph(id)
    return subset.encode()
  }
}

/** The fonts, opened with fontkit; their tables are read lazily, on first use. */
export function fontkitFonts(sources: readonly FontSource[]): FontCollection {
  const fonts = sources.map((source) => {
    // fontkit reads a Buffer's API only where a Uint8Array has the same.
    const opened = fontkit.create(source.bytes as Buffer, source.face)
    if (!('layout' in opened)) throw new Error(`${source.file}: a font collection; name a face (one of ${opened.fonts.map((f) => f.postscriptName).join(', ')})`)
    return new FontkitFont(source.file, opened)
  })
  return {
    fonts,
    coverage: (cp) => fonts.reduce((bits, font, i) => (font.hasGlyph(cp) ? bits | (1 << i) : bits), 0),
  }
}
