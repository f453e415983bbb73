// One OpenType font embedded in a PDF as a composite (Type0) font: the
// glyphs a document uses are collected while its pages are laid out, then
// written once as a subset with Identity-H encoding, so a content stream
// names glyphs by subset id (two bytes each). Each glyph carries the text it
// stands for in the ToUnicode map, which is what copy-and-paste and
// pdftotext read back.
import type { Font, Glyph } from 'fontkit'
import { PDFHexString, type PDFContext, type PDFRef } from 'pdf-lib'

/** The PDF's width unit: glyph space is 1/1000 of the font size. */
const PDF_UNITS = 1000

export class PdfFont {
  /** The object the pages' resource dictionaries point at. */
  readonly ref: PDFRef
  // (@types/fontkit says includeGlyph answers a boolean; it answers the glyph's id in the subset.)
  private readonly subset: { includeGlyph(glyph: Glyph): number; encode(): Uint8Array }
  /** Subset id -> width in 1/1000 em, and the text for ToUnicode. */
  private readonly widths: number[] = [0]
  private readonly texts: (string | undefined)[] = [undefined]
  /** The same texts by the glyph's id in the font. */
  private readonly textByGlyph = new Map<number, string>()
  private readonly scale: number

  constructor(
    readonly font: Font,
    private readonly context: PDFContext,
  ) {
    this.ref = context.nextRef()
    this.subset = font.createSubset() as unknown as PdfFont['subset']
    this.scale = PDF_UNITS / font.unitsPerEm
  }

  /**
   * The glyph's subset id as 4 hex digits, its width (1/1000 em) as the PDF
   * will advance it, and the text ToUnicode gives it: the characters it was
   * shaped from, the first time it was used.
   */
  use(glyph: Glyph): { hex: string; width: number; text: string } {
    const id = this.subset.includeGlyph(glyph)
    if (this.widths[id] === undefined) {
      this.widths[id] = Math.round(glyph.advanceWidth * this.scale)
      const text = String.fromCodePoint(...glyph.codePoints)
      this.texts[id] = text === '' ? undefined : text
      this.textByGlyph.set(glyph.id, text)
    }
    return { hex: id.toString(16).padStart(4, '0'), width: this.widths[id]!, text: this.texts[id] ?? '' }
  }

  /** The text ToUnicode gives the glyph (its first use's, or this one's if it is new), without adding it to the subset. */
  textOf(glyph: Glyph): string {
    return this.textByGlyph.get(glyph.id) ?? String.fromCodePoint(...glyph.codePoints)
  }

  /** Font units -> 1/1000 em. */
  toPdfUnits(fontUnits: number): number {
    return fontUnits * this.scale
  }

  /** Writes the subset, its metrics and the ToUnicode map under `ref`. */
  async embed(deflate: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    const { context, font } = this
    const cff = Boolean((font as unknown as Record<string, unknown>)['CFF '])
    const program = this.subset.encode()
    const tag = subsetTag(this.widths.length, font.postscriptName)
    const baseFont = `${tag}+${font.postscriptName.replace(/[^A-Za-z0-9-]/g, '')}`
    const fontFile = context.register(
      context.stream(await deflate(program), {
        Filter: 'FlateDecode',
        ...(cff ? { Subtype: 'CIDFontType0C' } : { Length1: program.length }),
      }),
    )
    const bbox = font.bbox
    const descriptor = context.register(
      context.obj({
        Type: 'FontDescriptor',
        FontName: baseFont,
        Flags: 4, // symbolic: glyphs are named by id, not by a standard encoding
        FontBBox: [bbox.minX, bbox.minY, bbox.maxX, bbox.maxY].map((v) => Math.round(v * this.scale)),
        ItalicAngle: font.italicAngle,
        Ascent: Math.round(font.ascent * this.scale),
        Descent: Math.round(font.descent * this.scale),
        CapHeight: Math.round((font.capHeight || font.ascent) * this.scale),
        StemV: 80,
        [cff ? 'FontFile3' : 'FontFile2']: fontFile,
      }),
    )
    const cidFont = context.register(
      context.obj({
        Type: 'Font',
        Subtype: cff ? 'CIDFontType0' : 'CIDFontType2',
        BaseFont: baseFont,
        CIDSystemInfo: { Registry: PDFHexString.fromText('Adobe'), Ordering: PDFHexString.fromText('Identity'), Supplement: 0 },
        FontDescriptor: descriptor,
        W: [0, this.widths.slice()],
        ...(cff ? {} : { CIDToGIDMap: 'Identity' }),
      }),
    )
    const toUnicode = context.register(context.stream(await deflate(new TextEncoder().encode(toUnicodeCMap(this.texts))), { Filter: 'FlateDecode' }))
    context.assign(
      this.ref,
      context.obj({
        Type: 'Font',
        Subtype: 'Type0',
        BaseFont: baseFont,
        Encoding: 'Identity-H',
        DescendantFonts: [cidFont],
        ToUnicode: toUnicode,
      }),
    )
  }
}

/** Six capital letters that differ between subsets of one font, as PDF asks of subset names. */
function subsetTag(glyphCount: number, name: string): string {
  let h = glyphCount * 2654435761
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619)
  let tag = ''
  for (let i = 0; i < 6; i++) {
    tag += String.fromCharCode(65 + ((h >>> (i * 5)) & 31) % 26)
  }
  return tag
}

export function utf16Hex(text: string): string {
  let hex = ''
  for (let i = 0; i < text.length; i++) hex += text.charCodeAt(i).toString(16).padStart(4, '0')
  return hex
}

/** A ToUnicode CMap: subset id -> UTF-16BE text, in blocks of at most 100 as the format asks. */
export function toUnicodeCMap(texts: readonly (string | undefined)[]): string {
  const entries: string[] = []
  texts.forEach((text, id) => {
    if (text !== undefined) entries.push(`<${id.toString(16).padStart(4, '0')}> <${utf16Hex(text)}>`)
  })
  const blocks: string[] = []
  for (let i = 0; i < entries.length; i += 100) {
    const block = entries.slice(i, i + 100)
    blocks.push(`${block.length} beginbfchar\n${block.join('\n')}\nendbfchar`)
  }
  return [
    '/CIDInit /ProcSet findresource begin',
    '12 dict begin',
    'begincmap',
    '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def',
    '/CMapName /Adobe-Identity-UCS def',
    '/CMapType 2 def',
    '1 begincodespacerange',
    '<0000> <ffff>',
    'endcodespacerange',
    ...blocks,
    'endcmap',
    'CMapName currentdict /CMap defineresource pop',
    'end',
    'end',
  ].join('\n')
}

