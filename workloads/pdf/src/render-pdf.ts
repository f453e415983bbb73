// Text to PDF with pdf-lib: A4 pages, word-wrapped lines, as many pages as
// the text needs. Latin-1 text uses the built-in Helvetica (small and fast).
// Any other text is laid out in every script (text-layout.ts: bidi, shaping,
// font fallback) and set in subsets of the bundled fonts (pdf-font.ts);
// text that no bundled font can draw is refused, never stored as boxes.
import { PDFDocument, PDFName, StandardFonts } from 'pdf-lib'
import { isMark } from 'unicode-properties'
import type { FontSet } from './font-set.ts'
import { GlyphCodes, PdfFont, utf16Hex, type EncodedProgram, type GlyphCode } from './pdf-font.ts'
import { mirrored, ParagraphLayout, type LaidLine, type ShapedPiece } from './text-layout.ts'

const A4: [number, number] = [595.28, 841.89]
const MARGIN = 56
const FONT_SIZE = 11
const LINE_HEIGHT = 15

export interface RenderOptions {
  /** The fonts for text outside Latin-1, in fallback order; called on the first such text. */
  readonly fonts: () => FontSet
  readonly title?: string
}

/** Text with characters that none of the fonts can draw (the answer is 422, nothing is stored). */
export class UndrawableTextError extends Error {
  readonly code = 'PDF_UNDRAWABLE_TEXT'
  constructor(readonly characters: readonly string[]) {
    const shown = characters.slice(0, 20).map((ch) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} ${JSON.stringify(ch)}`)
    super(`text: no font can draw ${characters.length === 1 ? 'the character' : `${characters.length} characters`}: ${shown.join(', ')}${characters.length > 20 ? ', …' : ''}`)
    this.name = 'UndrawableTextError'
  }
}

// Helvetica's WinAnsi encoding covers printable Latin-1 (plus a few symbols we ignore).
const LATIN1 = /^[\n\t\x20-\x7e\xa0-\xff]*$/

/** Control characters other than newline and tab would garble the page. */
export function cleanText(text: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
}

/**
 * Splits text into lines no wider than `width`, breaking at spaces, or inside
 * words longer than a line. Linear in the text: widths are summed per word
 * (and per character only for over-long words), never re-measured per line.
 */
export function wrapLines(text: string, width: number, measure: (s: string) => number): string[] {
  const lines: string[] = []
  const space = measure(' ')
  for (const paragraph of text.split('\n')) {
    let line = ''
    let lineWidth = 0
    for (const word of paragraph.split(/ +/)) {
      const wordWidth = measure(word)
      if (line !== '' && lineWidth + space + wordWidth <= width) {
        line += ` ${word}`
        lineWidth += space + wordWidth
        continue
      }
      if (line !== '') lines.push(line)
      if (wordWidth <= width) {
        line = word
        lineWidth = wordWidth
        continue
      }
      // A word wider than the line is cut into pieces that fit.
      line = ''
      lineWidth = 0
      for (const char of word) {
        const w = measure(char)
        if (lineWidth + w > width && line !== '') {
          lines.push(line)
          line = ''
          lineWidth = 0
        }
        line += char
        lineWidth += w
      }
    }
    lines.push(line)
  }
  return lines
}

/** A PDF literal string for Latin-1 text: backslash, parentheses escaped. */
function literal(line: string): string {
  return `(${line.replace(/[\\()]/g, '\\$&')})`
}

/** Latin-1 text as bytes (each code unit is below 256 there; hex strings are ASCII). */
function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
  return bytes
}

/** zlib-deflates with the platform's native CompressionStream (Node, and the component's engine). */
async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const compressed = new Response(bytes).body!.pipeThrough(new CompressionStream('deflate'))
  return new Uint8Array(await new Response(compressed).arrayBuffer())
}

/** Starts a document with our metadata. */
async function newDocument(title: string | undefined): Promise<PDFDocument> {
  const doc = await PDFDocument.create({ updateMetadata: false })
  doc.setTitle(title ?? 'Document')
  doc.setProducer('Lean Cloud pdf service')
  doc.setCreator('Lean Cloud pdf service')
  return doc
}

/**
 * Renders the text. Page content streams are written directly (one text
 * object per page) and deflated natively, rather than through pdf-lib's
 * per-operator objects and its JavaScript deflate: inside a component, where
 * JavaScript runs without a JIT, that is most of the cost.
 */
export async function renderPdf(text: string, options: RenderOptions): Promise<Uint8Array> {
  const clean = cleanText(text)
  return LATIN1.test(clean) ? renderLatin1(clean, options.title) : renderUnicode(clean, options.fonts(), options.title)
}

/** Latin-1 text in Helvetica, one `Tj` per line. */
async function renderLatin1(clean: string, title: string | undefined): Promise<Uint8Array> {
  const doc = await newDocument(title)
  const font = await doc.embedFont(StandardFonts.Helvetica)
  // Lines are drawn without kerning, so a line's width is the sum of its characters' widths.
  const charWidths = new Map<string, number>()
  const measure = (s: string) => {
    let total = 0
    for (const ch of s) {
      let w = charWidths.get(ch)
      if (w === undefined) charWidths.set(ch, (w = font.widthOfTextAtSize(ch, FONT_SIZE)))
      total += w
    }
    return total
  }
  const lines = wrapLines(clean, A4[0] - 2 * MARGIN, measure)
  const perPage = Math.floor((A4[1] - 2 * MARGIN) / LINE_HEIGHT)
  const pageCount = Math.max(1, Math.ceil(lines.length / perPage))
  for (let p = 0; p < pageCount; p++) {
    const page = doc.addPage(A4)
    const fontName = page.node.newFontDictionary('F', font.ref).asString()
    const body = lines
      .slice(p * perPage, (p + 1) * perPage)
      .map((line) => (line === '' ? 'T*' : `${literal(line)} Tj T*`))
      .join('\n')
    const content = `BT\n${fontName} ${FONT_SIZE} Tf\n${LINE_HEIGHT} TL\n${MARGIN} ${(A4[1] - MARGIN - FONT_SIZE).toFixed(2)} Td\n${body}\nET\n`
    const stream = doc.context.stream(await deflate(latin1Bytes(content)), { Filter: 'FlateDecode' })
    page.node.addContentStream(doc.context.register(stream))
  }
  return doc.save({ useObjectStreams: false })
}

const num = (n: number) => (Math.abs(n) < 0.005 ? '0' : n.toFixed(2).replace(/\.?0+$/, ''))

/** A marked-content span whose text extractors read instead of the glyphs' own. */
const actualText = (text: string, ops: string) => `/Span <</ActualText <feff${utf16Hex(text)}>>> BDC\n${ops}\nEMC`

/**
 * An invisible zero-width direction mark: the font's space, read as U+200E or
 * U+200F, its advance taken back. Extractors give a character the box of its
 * glyph, so the box is put over the run the mark belongs to (the one it
 * follows in logical order): a left-to-right mark after right-to-left text
 * sits over the text's left end, a right-to-left mark over the start of the
 * number or word on its right. The gap on its other side, which the
 * extractor reads as a space, stays as it was.
 */
function drawMark(mark: 'rlm' | 'lrm', space: GlyphCode): string {
  return mark === 'rlm' ? actualText('\u200f', `[<${space.hex}> ${space.width}] TJ`) : actualText('\u200e', `[${space.width} <${space.hex}>] TJ`)
}

/** `text` with its code points in reverse order (marks before their bases). */
export const reversed = (text: string) => [...text].reverse().join('')

/**
 * Whether extractors that read by position get a right-to-left piece back
 * from its glyphs' own text (`texts`, in visual order): poppler (pdftotext,
 * and the viewers built on it) spreads the characters of a glyph left to
 * right over its box and then reverses each right-to-left stretch of the
 * line, so a glyph standing for several characters (lam-alef, a letter with
 * its marks) would come back reversed; and it attaches a separate mark glyph
 * to a neighbouring letter by guesswork. Only one visible character per
 * glyph, in exact mirror order, is safe.
 */
export function rtlReadsBack(texts: readonly string[], text: string): boolean {
  return texts.every((t) => [...t].length === 1 && !isMark(t.codePointAt(0)!)) && reversed(texts.join('')) === text
}

/**
 * The operators that draw one shaped piece at the current point and leave
 * the point after it. Glyph positions from shaping (kerning, mark offsets)
 * become TJ adjustments and text rise, measured against the widths the PDF
 * itself advances by, so no error accumulates along a line. Where the
 * glyphs' own text does not read back as the piece's text (Indic vowel signs
 * drawn before their consonant, a ligature or a letter with marks in
 * right-to-left text, a bracket mirrored there), the piece or glyph carries
 * its text as ActualText. A right-to-left piece's ActualText lists its
 * characters right to left, as they stand on the page: extractors reading
 * by position (see rtlReadsBack) spread them over the piece from left to
 * right and then reverse the stretch, which gives the logical order back.
 */
function drawPiece(piece: ShapedPiece, font: PdfFont, size: number): DrawnPiece {
  if (piece.mark) {
    const space = font.use(font.space)
    return { ops: drawMark(piece.mark, space), codes: [space] }
  }
  const rtl = piece.level % 2 === 1
  // Each glyph's code and text (its first use's, which ToUnicode gives it), before anything is decided.
  const codes = piece.glyphs.map((glyph) => font.use(glyph))
  // Decided before drawing: a piece-level span replaces the per-glyph ones (spans do not nest).
  const rtlSpan = rtl && !rtlReadsBack(codes.map((c) => c.text), piece.text)
  const ops: string[] = []
  let items: string[] = []
  let hex = ''
  let rise = 0
  let pen = 0 // where shaping puts the pen, 1/1000 em
  let at = 0 // where the PDF's current point is, 1/1000 em
  const closeHex = () => {
    if (hex !== '') items.push(`<${hex}>`)
    hex = ''
  }
  const shift = (delta: number) => {
    if (Math.abs(delta) < 0.05) return
    closeHex()
    items.push(num(-delta))
    at += delta
  }
  const show = () => {
    closeHex()
    if (items.length > 0) ops.push(`[${items.join(' ')}] TJ`)
    items = []
  }
  const texts: string[] = []
  const boxes: GlyphBox[] = []
  piece.glyphs.forEach((glyph, i) => {
    const position = piece.positions[i]!
    const glyphRise = (font.toPdfUnits(position.yOffset) * size) / 1000
    if (Math.abs(glyphRise - rise) >= 0.005) {
      show()
      ops.push(`${num(glyphRise)} Ts`)
      rise = glyphRise
    }
    shift(pen + font.toPdfUnits(position.xOffset) - at)
    const { hex: code, width, text } = codes[i]!
    // A mirrored bracket: the glyph reads as the other bracket, so it says which it is.
    const meant = rtl && [...text].length === 1 ? mirrored(text) : text
    if (meant !== text && !rtlSpan) {
      show()
      ops.push(actualText(meant, `[<${code}>] TJ`))
    } else hex += code
    texts.push(meant)
    boxes.push({ from: at, to: at + width })
    at += width
    pen += font.toPdfUnits(position.xAdvance)
  })
  shift(pen - at)
  show()
  if (rise !== 0) ops.push('0 Ts')
  const drawn = (text: string) => ({ ops: text, codes })
  if (rtl) return drawn(rtlSpan ? actualText(reversed(piece.text), ops.join('\n')) : ops.join('\n'))
  return drawn(ltrReadsBack(piece, texts) && ltrWordStaysWhole(boxes, texts) ? ops.join('\n') : actualText(piece.text, ops.join('\n')))
}

/** A shaped piece's operators and the codes they name. */
interface DrawnPiece {
  readonly ops: string
  readonly codes: readonly GlyphCode[]
}

/**
 * Operators drawn for laid-out lines, kept with the line (laid-out
 * paragraphs are themselves kept, text-layout.ts): a glyph has the same code
 * in every document (GlyphCodes) and a font the same resource name (/F and
 * its index), so a line's operators are the same in every document, and a
 * paragraph seen before costs no drawing. Kept with them: the codes each
 * font draws, which the document's subsets must hold.
 */
interface DrawnLine {
  readonly ops: string
  readonly uses: ReadonlyMap<number, readonly GlyphCode[]>
}
const drawnLines = new WeakMap<LaidLine, DrawnLine>()

/** The resource name of font `index` on every page. */
const fontKey = (index: number) => `F${index}`

/** A line's operators after its text matrix, at the size it was laid out for: each piece, with a font change where the font changes. */
function drawLine(line: LaidLine, fontOf: (index: number) => PdfFont, size: number): DrawnLine {
  const ops: string[] = []
  const uses = new Map<number, Set<GlyphCode>>()
  let current = -1
  for (const piece of line.pieces) {
    if (current !== piece.font) ops.push(`/${fontKey(piece.font)} ${size} Tf`)
    current = piece.font
    const drawn = drawPiece(piece, fontOf(piece.font), size)
    ops.push(drawn.ops)
    let codes = uses.get(piece.font)
    if (!codes) uses.set(piece.font, (codes = new Set()))
    for (const code of drawn.codes) codes.add(code)
  }
  return { ops: ops.join('\n'), uses: new Map([...uses].map(([index, codes]) => [index, [...codes]])) }
}

/** Where a glyph is drawn along the line, 1/1000 em from the piece's start: from its origin to its origin plus its PDF width. */
interface GlyphBox {
  readonly from: number
  readonly to: number
}

/**
 * Whether poppler keeps a left-to-right piece's glyphs in one word, in
 * order. It ends a word's box at the right edge of its last character, and
 * reads a gap of 0.03 em or more between that edge and the next character as
 * a space; it splits words on its own near a character drawn with no
 * width (a vowel sign below or above, shifted back under its consonant), and
 * then the split becomes a space: Bengali নতুন read back as নতু ন. A
 * character drawn left of the one before it comes out of order. Only glyphs
 * with text count (poppler places no character for the others).
 */
function ltrWordStaysWhole(boxes: readonly GlyphBox[], texts: readonly string[]): boolean {
  let previous: GlyphBox | undefined
  for (let i = 0; i < boxes.length; i++) {
    if (texts[i] === '') continue
    const box = boxes[i]!
    if (previous && (box.from - previous.to >= 25 || box.from < previous.from - 0.5)) return false
    previous = box
  }
  return true
}

/**
 * Whether a left-to-right piece reads back from its glyphs' own text: in
 * order, with no glyph that advances but has no text (the extractor would
 * see a gap, a word break, as in Thai sara am split in two) and no mark
 * stacked on another mark (poppler attaches only one mark to a letter).
 */
function ltrReadsBack(piece: ShapedPiece, texts: readonly string[]): boolean {
  if (texts.join('') !== piece.text) return false
  return texts.every((text, i) => {
    const advances = piece.positions[i]!.xAdvance !== 0
    if (text === '') return !advances
    return advances || !(i > 0 && piece.positions[i - 1]!.xAdvance === 0 && texts[i - 1] !== '')
  })
}

/** Text in any script: laid out per paragraph, drawn piece by piece in subsets of the bundled fonts. */
async function renderUnicode(clean: string, fontSet: FontSet, title: string | undefined): Promise<Uint8Array> {
  const missing = fontSet.undrawable(clean)
  if (missing.length > 0) throw new UndrawableTextError(missing)
  const doc = await newDocument(title)
  const width = A4[0] - 2 * MARGIN
  const layout = new ParagraphLayout(fontSet, FONT_SIZE)
  const lines: LaidLine[] = []
  for (const paragraph of clean.split('\n')) lines.push(...layout.layout(paragraph, width))

  const pdfFonts = new Map<number, PdfFont>()
  const programs = fontSet.cache<EncodedProgram>('subset-programs')
  const glyphCodes = fontSet.cache<GlyphCodes>('glyph-codes')
  const fontOf = (index: number) => {
    let font = pdfFonts.get(index)
    if (!font) {
      let codes = glyphCodes.get(String(index))
      if (!codes) glyphCodes.set(String(index), (codes = new GlyphCodes(fontSet.fonts[index]!)))
      pdfFonts.set(index, (font = new PdfFont(codes, doc.context, programs)))
    }
    return font
  }
  const perPage = Math.floor((A4[1] - 2 * MARGIN) / LINE_HEIGHT)
  for (let first = 0; first === 0 || first < lines.length; first += perPage) {
    const page = doc.addPage(A4)
    const named = new Set<number>()
    const ops: string[] = ['BT']
    lines.slice(first, first + perPage).forEach((line, row) => {
      if (line.pieces.length === 0) return
      const x = line.rtl ? MARGIN + width - line.width : MARGIN
      const y = A4[1] - MARGIN - FONT_SIZE - row * LINE_HEIGHT
      ops.push(`1 0 0 1 ${num(x)} ${num(y)} Tm`)
      let drawn = drawnLines.get(line)
      // Kept lines are the layout's at FONT_SIZE (text-layout keeps them per size).
      if (drawn) for (const [index, codes] of drawn.uses) fontOf(index).useCodes(codes)
      else drawnLines.set(line, (drawn = drawLine(line, fontOf, FONT_SIZE)))
      for (const index of drawn.uses.keys()) {
        if (named.has(index)) continue
        named.add(index)
        page.node.setFontDictionary(PDFName.of(fontKey(index)), fontOf(index).ref)
      }
      ops.push(drawn.ops)
    })
    ops.push('ET')
    const stream = doc.context.stream(await deflate(latin1Bytes(ops.join('\n'))), { Filter: 'FlateDecode' })
    page.node.addContentStream(doc.context.register(stream))
  }
  for (const font of pdfFonts.values()) await font.embed(deflate)
  return doc.save({ useObjectStreams: false })
}
