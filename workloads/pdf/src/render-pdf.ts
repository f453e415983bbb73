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

export async function renderPdf(text: string, options: RenderOptions): Promise<Uint8Array> {
  const doc = await PDFDocument.create()
  doc.setTitle(options.title ?? 'Document')
  doc.setProducer('Lean Cloud pdf service')
  doc.setCreator('Lean Cloud pdf service')
  const clean = cleanText(text)
  let font: PDFFont
  if (LATIN1.test(clean)) {
    font = await doc.embedFont(StandardFonts.Helvetica)
  } else {
    doc.registerFontkit(fontkit)
    font = await doc.embedFont(options.unicodeFont, { subset: true })
  }
  const width = A4[0] - 2 * MARGIN
  const lines = wrapLines(clean, width, (s) => font.widthOfTextAtSize(s, FONT_SIZE))
  const perPage = Math.floor((A4[1] - 2 * MARGIN) / LINE_HEIGHT)
  for (let first = 0; first < lines.length; first += perPage) {
    const page = doc.addPage(A4)
    let y = A4[1] - MARGIN - FONT_SIZE
    for (const line of lines.slice(first, first + perPage)) {
      if (line !== '') page.drawText(line, { x: MARGIN, y, size: FONT_SIZE, font })
      y -= LINE_HEIGHT
    }
  }
  if (lines.length === 0) doc.addPage(A4)
  return doc.save()
}
