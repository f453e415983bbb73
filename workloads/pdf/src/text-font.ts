// What the PDF service needs of a font, whoever does the font work: the
// wasm host's platform fonts in the component (host-fonts.ts: shaping and
// subsetting run natively, one parsed copy per task), fontkit in Node (the
// plain Node twin and the tests, fontkit-fonts.ts). Lengths are in font units.

/** One shaped glyph. */
export interface ShapedGlyph {
  readonly id: number
  /** The glyph's own advance, as a PDF's width array wants it. */
  readonly advance: number
  /**
   * The characters the glyph stands for as drawn (a bracket mirrored in
   * right-to-left text gives the mirrored one); '' for a glyph that
   * continues a cluster another glyph carries the text of.
   */
  readonly text: string
}

/** Where shaping puts a glyph: kerning and mark positions included. */
export interface GlyphPlacement {
  readonly xAdvance: number
  readonly yAdvance: number
  readonly xOffset: number
  readonly yOffset: number
}

/** A shaped run; glyphs in visual order, a placement each. */
export interface ShapedRun {
  readonly glyphs: readonly ShapedGlyph[]
  readonly positions: readonly GlyphPlacement[]
}

export interface TextFont {
  /** File name, for messages (e.g. NotoSansArabic-Regular.ttf). */
  readonly file: string
  readonly postscriptName: string
  readonly unitsPerEm: number
  readonly ascent: number
  readonly descent: number
  readonly capHeight: number
  readonly italicAngle: number
  readonly bbox: { readonly minX: number; readonly minY: number; readonly maxX: number; readonly maxY: number }
  /** Shapes one run of text (logical order) in one direction. */
  shape(text: string, rtl: boolean): ShapedRun
  /** A TrueType font program of these glyphs, glyph i of the list as glyph i (the list starts with 0, the missing glyph). */
  subset(glyphIds: readonly number[]): Uint8Array
}

/** Fonts in fallback order, and which of them have a glyph for a character (bit i: fonts[i]). */
export interface FontCollection {
  readonly fonts: readonly TextFont[]
  coverage(cp: number): number
}
