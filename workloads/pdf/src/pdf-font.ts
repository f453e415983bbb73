// One OpenType font embedded in a PDF as a composite (Type0) font: the
// glyphs a document uses are collected while its pages are laid out, then
// written once as a subset with Identity-H encoding, so a content stream
// names glyphs by code (CID, two bytes each). Codes are given out per font
// and kept across documents (GlyphCodes), so the operators that draw a
// shaped piece are the same in every document and can be kept too; each
// document's CIDToGIDMap maps its codes to its subset's glyphs. Each glyph
// carries the text it stands for in the ToUnicode map, which is what
// copy-and-paste and pdftotext read back.
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

/** A glyph's code in one font: its CID, as 4 hex digits, its width (1/1000 em) and its text for ToUnicode. */
export interface GlyphCode {
  readonly cid: number
  readonly gid: number
  readonly hex: string
  readonly width: number
  /** The characters it stands for: those of its first use; '' for none. */
  readonly text: string
}

/**
 * The codes of one font's glyphs, given out in order of first use and kept
 * for as long as the font set (across documents). CID 0 is the missing
 * glyph. A font has at most 65,535 glyphs, so the codes fit two bytes.
 */
export class GlyphCodes {
  readonly codes: GlyphCode[] = [{ cid: 0, gid: 0, hex: '0000', width: 0, text: '' }]
  private readonly byGlyph = new Map<number, GlyphCode>([[0, this.codes[0]!]])
  /** Font units -> 1/1000 em. */
  readonly scale: number

  constructor(readonly font: TextFont) {
    this.scale = PDF_UNITS / font.unitsPerEm
  }

  /** The font's space glyph (direction marks are drawn with it), shaped once. */
  get space(): ShapedGlyph {
    return (this.spaceGlyph ??= this.font.shape(' ', false).glyphs[0]!)
  }
  private spaceGlyph: ShapedGlyph | undefined

  code(glyph: ShapedGlyph): GlyphCode {
    let code = this.byGlyph.get(glyph.id)
    if (!code) {
      const cid = this.codes.length
      code = { cid, gid: glyph.id, hex: cid.toString(16).padStart(4, '0'), width: Math.round(glyph.advance * this.scale), text: glyph.text }
      this.codes.push(code)
      this.byGlyph.set(glyph.id, code)
    }
    return code
  }
}

export class PdfFont {
  /** The object the pages' resource dictionaries point at. */
  readonly ref: PDFRef
  readonly font: TextFont
  /** The codes this document draws. */
  private readonly used = new Set<number>([0])

  constructor(
    private readonly codes: GlyphCodes,
    private readonly context: PDFContext,
    private readonly programs: ProgramCache = new Map(),
  ) {
    this.font = codes.font
    this.ref = context.nextRef()
  }

  /** The glyph's code, drawn in this document. */
  use(glyph: ShapedGlyph): GlyphCode {
    const code = this.codes.code(glyph)
    this.used.add(code.cid)
    return code
  }

  /** Codes drawn in this document by operators made for an earlier one. */
  useCodes(codes: readonly GlyphCode[]): void {
    for (const code of codes) this.used.add(code.cid)
  }

  /** The font's space glyph (direction marks are drawn with it). */
  get space(): ShapedGlyph {
    return this.codes.space
  }

  /** Font units -> 1/1000 em. */
  toPdfUnits(fontUnits: number): number {
    return fontUnits * this.codes.scale
  }

  /** The subset's font program, deflated: the same glyphs in the same order encode to the same bytes, so a cached one is reused. */
  private async program(glyphIds: readonly number[], deflate: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<EncodedProgram> {
    const key = `${this.font.file}:${glyphIds.join(',')}`
    let program = this.programs.get(key)
    if (program) this.programs.delete(key)
    else {
      const bytes = this.font.subset(glyphIds)
      program = { deflated: await deflate(bytes), length: bytes.length }
      if (this.programs.size >= PROGRAMS_KEPT) this.programs.delete(this.programs.keys().next().value!)
    }
    this.programs.set(key, program)
    return program
  }

  /**
   * Writes the subset (the glyphs drawn, in order of their codes), the map
   * from codes to its glyphs, the widths and the ToUnicode map under `ref`.
   */
  async embed(deflate: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    const { context, font } = this
    const drawn = [...this.used].sort((a, b) => a - b).map((cid) => this.codes.codes[cid]!)
    const program = await this.program(
      drawn.map((code) => code.gid),
      deflate,
    )
    // CID -> the glyph's place in the subset, two bytes per CID up to the highest drawn.
    const cidToGid = new Uint8Array(2 * (drawn.at(-1)!.cid + 1))
    drawn.forEach((code, gid) => {
      cidToGid[2 * code.cid] = gid >> 8
      cidToGid[2 * code.cid + 1] = gid & 0xff
    })
    const widths: (number | number[])[] = []
    for (const code of drawn) if (code.cid !== 0) widths.push(code.cid, [code.width])
    const texts: (string | undefined)[] = []
    for (const code of drawn) if (code.text !== '') texts[code.cid] = code.text
    const tag = subsetTag(drawn.length, font.postscriptName)
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
        FontBBox: [bbox.minX, bbox.minY, bbox.maxX, bbox.maxY].map((v) => Math.round(v * this.codes.scale)),
        ItalicAngle: font.italicAngle,
        Ascent: Math.round(font.ascent * this.codes.scale),
        Descent: Math.round(font.descent * this.codes.scale),
        CapHeight: Math.round((font.capHeight || font.ascent) * this.codes.scale),
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
        W: widths,
        CIDToGIDMap: context.register(context.stream(await deflate(cidToGid), { Filter: 'FlateDecode' })),
      }),
    )
    const toUnicode = context.register(context.stream(await deflate(new TextEncoder().encode(toUnicodeCMap(texts))), { Filter: 'FlateDecode' }))
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

