// One OpenType font embedded in a PDF as a composite (Type0) font: the
// glyphs a document uses are collected while its pages are laid out, then
// written once as a subset with Identity-H encoding, so a content stream
// names glyphs by subset id (two bytes each). Each glyph carries the text it
// stands for in the ToUnicode map, which is what copy-and-paste and
// pdftotext read back.
import { PDFHexString, type PDFContext, type PDFRef } from 'pdf-lib'
import type { ShapedGlyph, TextFont } from './text-font.ts'

/** The PDF's width unit: glyph space is 1/1000 of the font size. */
const PDF_UNITS = 1000

/** A subset's font program as embedded: deflated, and its length before. */
export interface EncodedProgram {
  readonly deflated: Uint8Array
  readonly length: number
}

/**
 * Encoded subsets by font and glyph list, kept across documents (a FontSet
 * cache): encoding a subset is most of a document's cost without a JIT, and
 * documents repeat their glyphs. At most PROGRAMS_KEPT, the least recently
 * used dropped first.
 */
export type ProgramCache = Map<string, EncodedProgram>
const PROGRAMS_KEPT = 48

export class PdfFont {
  /** The object the pages' resource dictionaries point at. */
  readonly ref: PDFRef
  /** The font's glyph ids in subset order (subset id = index); 0, the missing glyph, first. */
  private readonly glyphIds: number[] = [0]
  private readonly subsetIds = new Map<number, number>([[0, 0]])
  /** Subset id -> width in 1/1000 em, and the text for ToUnicode. */
  private readonly widths: number[] = [0]
  private readonly texts: (string | undefined)[] = [undefined]
  /** The same texts by the glyph's id in the font. */
  private readonly textByGlyph = new Map<number, string>()
  private readonly scale: number

  constructor(
    readonly font: TextFont,
    private readonly context: PDFContext,
    private readonly programs: ProgramCache = new Map(),
  ) {
    this.ref = context.nextRef()
    this.scale = PDF_UNITS / font.unitsPerEm
  }

  /**
   * The glyph's subset id as 4 hex digits, its width (1/1000 em) as the PDF
   * will advance it, and the text ToUnicode gives it: the characters it was
   * shaped from, the first time it was used.
   */
  use(glyph: ShapedGlyph): { hex: string; width: number; text: string } {
    let id = this.subsetIds.get(glyph.id)
    if (id === undefined) {
      id = this.glyphIds.push(glyph.id) - 1
      this.subsetIds.set(glyph.id, id)
    }
    if (this.widths[id] === undefined) {
      this.widths[id] = Math.round(glyph.advance * this.scale)
      this.texts[id] = glyph.text === '' ? undefined : glyph.text
      this.textByGlyph.set(glyph.id, glyph.text)
    }
    return { hex: id.toString(16).padStart(4, '0'), width: this.widths[id]!, text: this.texts[id] ?? '' }
  }

  /** The font's space glyph (direction marks are drawn with it). */
  get space(): ShapedGlyph {
    return (this.spaceGlyph ??= this.font.shape(' ', false).glyphs[0]!)
  }
  private spaceGlyph: ShapedGlyph | undefined

  /** The text ToUnicode gives the glyph (its first use's, or this one's if it is new), without adding it to the subset. */
  textOf(glyph: ShapedGlyph): string {
    return this.textByGlyph.get(glyph.id) ?? glyph.text
  }

  /** Font units -> 1/1000 em. */
  toPdfUnits(fontUnits: number): number {
    return fontUnits * this.scale
  }

  /** The subset's font program, deflated: the same glyphs in the same order encode to the same bytes, so a cached one is reused. */
  private async program(deflate: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<EncodedProgram> {
    const key = `${this.font.file}:${this.glyphIds.join(',')}`
    let program = this.programs.get(key)
    if (program) this.programs.delete(key)
    else {
      const bytes = this.font.subset(this.glyphIds)
      program = { deflated: await deflate(bytes), length: bytes.length }
      if (this.programs.size >= PROGRAMS_KEPT) this.programs.delete(this.programs.keys().next().value!)
    }
    this.programs.set(key, program)
    return program
  }

  /** Writes the subset, its metrics and the ToUnicode map under `ref`. */
  async embed(deflate: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    const { context, font } = this
    const program = await this.program(deflate)
    const tag = subsetTag(this.widths.length, font.postscriptName)
    const baseFont = `${tag}+${font.postscriptName.replace(/[^A-Za-z0-9-]/g, '')}`
    const fontFile = context.register(
      context.stream(program.deflated, {
        Filter: 'FlateDecode',
        Length1: program.length,
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
        FontFile2: fontFile,
      }),
    )
    const cidFont = context.register(
      context.obj({
        Type: 'Font',
        Subtype: 'CIDFontType2',
        BaseFont: baseFont,
        CIDSystemInfo: { Registry: PDFHexString.fromText('Adobe'), Ordering: PDFHexString.fromText('Identity'), Supplement: 0 },
        FontDescriptor: descriptor,
        W: [0, this.widths.slice()],
        CIDToGIDMap: 'Identity',
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

