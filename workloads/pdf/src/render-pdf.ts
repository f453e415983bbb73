// Text to PDF with pdf-lib: A4 pages, word-wrapped lines, as many pages as
// the text needs. Latin-1 text uses the built-in Helvetica (small and fast);
// anything else is set in an embedded Unicode font, subset to the glyphs used,
// so Cyrillic, Greek, Hebrew and the like come out (and extract) as written.
import fontkit from '@pdf-lib/fontkit'
import { PDFDocument, StandardFonts, type PDFFont } from 'pdf-lib'

const A4: [number, number] = [595.28, 841.89]
const MARGIN = 56
const FONT_SIZE = 11
const LINE_HEIGHT = 15

export interface RenderOptions {
  /** TrueType font for text outside Latin-1, e.g. DejaVu Sans. */
  readonly unicodeFont: Uint8Array
  readonly title?: string
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

/**
 * Renders the text. Page content streams are written directly (one text
 * object per page, `Tj` and `T*` per line) and deflated natively, rather than
 * through pdf-lib's per-operator objects and its JavaScript deflate: inside a
 * component, where JavaScript runs without a JIT, that is most of the cost.
 */
export async function renderPdf(text: string, options: RenderOptions): Promise<Uint8Array> {
  const doc = await PDFDocument.create({ updateMetadata: false })
  doc.setTitle(options.title ?? 'Document')
  doc.setProducer('Lean Cloud pdf service')
  doc.setCreator('Lean Cloud pdf service')
  const clean = cleanText(text)
  let font: PDFFont
  let encode: (line: string) => string
  if (LATIN1.test(clean)) {
    font = await doc.embedFont(StandardFonts.Helvetica)
    encode = literal
  } else {
    doc.registerFontkit(fontkit)
    font = await doc.embedFont(options.unicodeFont, { subset: true })
    // Glyph ids of the subset, as a hex string; this also marks the glyphs used.
    encode = (line) => font.encodeText(line).toString()
  }
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
      .map((line) => (line === '' ? 'T*' : `${encode(line)} Tj T*`))
      .join('\n')
    const content = `BT\n${fontName} ${FONT_SIZE} Tf\n${LINE_HEIGHT} TL\n${MARGIN} ${(A4[1] - MARGIN - FONT_SIZE).toFixed(2)} Td\n${body}\nET\n`
    const stream = doc.context.stream(await deflate(latin1Bytes(content)), { Filter: 'FlateDecode' })
    page.node.addContentStream(doc.context.register(stream))
  }
  return doc.save({ useObjectStreams: false })
}
