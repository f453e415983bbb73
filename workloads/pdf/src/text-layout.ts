// Lays out one paragraph: the Unicode bidirectional algorithm gives each
// character a level, the font set picks a font per character, the text is
// cut into pieces of one font and one level, each piece is shaped by an
// OpenType engine (joining, ligatures, Indic reordering, marks: the wasm
// host's in the component, fontkit's in Node; see text-font.ts),
// the pieces are filled into lines greedily at break opportunities, and each
// line's pieces are put in visual order (rule L2 of the algorithm).
import bidiImport, { type Bidi } from 'bidi-js'
import { getScript } from 'unicode-properties'
import { attachesToPrevious, type FontSet } from './font-set.ts'
import type { GlyphPlacement, ShapedGlyph } from './text-font.ts'

// bidi-js is CommonJS for Node (the factory is module.exports) and an ES
// module for the component's bundler (the factory is the default export).
const bidiFactory = ((bidiImport as { default?: unknown }).default ?? bidiImport) as () => Bidi
const bidi = bidiFactory()

/** The character a right-to-left run draws for `ch` (brackets face the other way), or `ch`. */
export function mirrored(ch: string): string {
  return bidi.getMirroredCharacter(ch) ?? ch
}

const isStrongRtl = (ch: string) => {
  const type = bidi.getBidiCharTypeName(ch)
  return type === 'R' || type === 'AL'
}

/** A run of text in one font and one bidi level, shaped; glyphs are in visual order. */
export interface ShapedPiece {
  readonly text: string
  readonly font: number
  readonly level: number
  readonly glyphs: readonly ShapedGlyph[]
  readonly positions: readonly GlyphPlacement[]
  /** Advance of the whole piece, in points. */
  readonly width: number
  /** Set on the invisible direction marks that only extractors see (see extractionMarks). */
  readonly mark?: 'rlm' | 'lrm'
}

export interface LaidLine {
  /** The line's text in logical order. */
  readonly text: string
  /** In visual order, left to right. */
  readonly pieces: readonly ShapedPiece[]
  readonly width: number
  /** The paragraph's direction: right-to-left lines are set flush right. */
  readonly rtl: boolean
}

/** Right-to-left scripts' blocks, their presentation forms, and the explicit bidi controls. */
const MAY_BE_RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u200f\u202b\u202e\u2067]|\ud802[\udc00-\udfff]|\ud803[\udc00-\udfff]|\ud83a|\ud83b/

const CJK_SCRIPTS = new Set(['Han', 'Hiragana', 'Katakana', 'Hangul', 'Bopomofo'])
// Line-start and line-end prohibitions (kinsoku), the common subset.
const NO_BREAK_BEFORE = new Set([...'、。，．：；？！）」』】〕〉》〙〗ー…‥ゝゞヽヾ々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ)]}.,:;!?%'])
const NO_BREAK_AFTER = new Set([...'（「『【〔〈《〘〖([{'])

function isCjk(cp: number): boolean {
  return CJK_SCRIPTS.has(getScript(cp)) || (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xff00 && cp <= 0xffef)
}

/** Cluster boundaries (a character with the marks and joiners after it): where a word wider than a line may be cut. */
function clusterStarts(text: string): number[] {
  const starts: number[] = []
  let prev = -1
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!
    if (i > 0 && !attachesToPrevious(cp) && prev !== 0x200d) starts.push(i)
    prev = cp
    i += cp > 0xffff ? 2 : 1
  }
  return starts
}

/** The code point that ends just before code unit `i`. */
function codePointBefore(text: string, i: number): number {
  const unit = text.charCodeAt(i - 1)
  return unit >= 0xdc00 && unit <= 0xdfff && i >= 2 ? text.codePointAt(i - 2)! : unit
}

/** Code unit indices where a line may begin (besides 0): cluster starts around runs of spaces, and between CJK characters. */
export function breakOpportunities(text: string): number[] {
  return clusterStarts(text).filter((i) => {
    const cp = text.codePointAt(i)!
    const prev = codePointBefore(text, i)
    const space = cp === 0x20
    if (space !== (prev === 0x20)) return true
    return !space && (isCjk(cp) || isCjk(prev)) && !NO_BREAK_BEFORE.has(String.fromCodePoint(cp)) && !NO_BREAK_AFTER.has(String.fromCodePoint(prev))
  })
}

/** The advance of pieces side by side, in points. */
const widthOf = (pieces: readonly ShapedPiece[]) => pieces.reduce((sum, p) => sum + p.width, 0)

/** Paragraphs longer than this (code units) are laid out every time; at most PARAGRAPHS_KEPT are kept. */
const PARAGRAPH_KEPT_CHARS = 4096
const PARAGRAPHS_KEPT = 256

export class ParagraphLayout {
  // Shaped pieces by font, level and text, kept by the font set across
  // documents: prose repeats its words, and shaping them again is most of a
  // layout without a JIT. Each entry is a few glyph objects; the cache is
  // emptied when it reaches 8,192.
  private readonly cache: Map<string, ShapedPiece>
  // Laid-out paragraphs by width and text, kept the same way: documents
  // repeat paragraphs (letterheads, footers, boilerplate), and a paragraph
  // seen before costs a lookup instead of bidi, font choice and line breaking.
  private readonly paragraphs: Map<string, readonly LaidLine[]>

  constructor(
    private readonly fonts: FontSet,
    private readonly size: number,
  ) {
    this.cache = fonts.cache<ShapedPiece>(`shaped@${size}`)
    this.paragraphs = fonts.cache<readonly LaidLine[]>(`paragraphs@${size}`)
  }

  /** Shapes `text` (one font, one level); right-to-left text gets mirrored brackets and comes back in visual order. */
  shape(text: string, font: number, level: number): ShapedPiece {
    const key = `${font}:${level}:${text}`
    const cached = this.cache.get(key)
    if (cached) return cached
    const face = this.fonts.fonts[font]!
    const run = face.shape(text, level % 2 === 1)
    let advance = 0
    for (const p of run.positions) advance += p.xAdvance
    const piece = { text, font, level, glyphs: run.glyphs, positions: run.positions, width: (advance * this.size) / face.unitsPerEm }
    if (this.cache.size >= 8192) this.cache.clear()
    this.cache.set(key, piece)
    return piece
  }

  /** The pieces of text[start, end): cut where the font or the level changes. */
  private pieces(text: string, start: number, end: number, fontOf: Int16Array, levels: Uint8Array): ShapedPiece[] {
    const pieces: ShapedPiece[] = []
    let from = start
    for (let i = start + 1; i <= end; i++) {
      if (i < end && fontOf[i] === fontOf[from] && levels[i] === levels[from]) continue
      // Never cut a surrogate pair.
      if (i < end && text.charCodeAt(i) >= 0xdc00 && text.charCodeAt(i) <= 0xdfff) continue
      pieces.push(this.shape(text.slice(from, i), fontOf[from]!, levels[from]!))
      from = i
    }
    return pieces
  }

  /** Lines no wider than `maxWidth` points. Every character of `text` must have a font (see FontSet.undrawable). */
  layout(text: string, maxWidth: number): readonly LaidLine[] {
    if (text === '') return [{ text: '', pieces: [], width: 0, rtl: false }]
    if (text.length > PARAGRAPH_KEPT_CHARS) return this.layoutParagraph(text, maxWidth)
    const key = `${maxWidth}:${text}`
    let lines = this.paragraphs.get(key)
    if (!lines) {
      lines = this.layoutParagraph(text, maxWidth)
      if (this.paragraphs.size >= PARAGRAPHS_KEPT) this.paragraphs.clear()
      this.paragraphs.set(key, lines)
    }
    return lines
  }

  private layoutParagraph(text: string, maxWidth: number): LaidLine[] {
    // Without a right-to-left character (or a bidi control) every level is 0: skip the algorithm.
    const embedding = MAY_BE_RTL.test(text) ? bidi.getEmbeddingLevels(text, 'auto') : undefined
    const levels = embedding?.levels ?? new Uint8Array(text.length)
    const rtl = (embedding?.paragraphs[0]?.level ?? 0) % 2 === 1
    const fontOf = this.fonts.assign(text)

    const bounds = [0, ...breakOpportunities(text), text.length]
    const lines: LaidLine[] = []
    let line: ShapedPiece[] = []
    let lineWidth = 0
    let pending: ShapedPiece[] = [] // spaces after the line's last word, kept only if another word follows
    let pendingWidth = 0
    const flush = () => {
      lines.push(visualLine(line, lineWidth, rtl))
      line = []
      lineWidth = 0
      pending = []
      pendingWidth = 0
    }
    const add = (pieces: ShapedPiece[], width: number) => {
      line.push(...pending, ...pieces)
      lineWidth += pendingWidth + width
      pending = []
      pendingWidth = 0
    }
    for (let b = 0; b + 1 < bounds.length; b++) {
      const start = bounds[b]!
      const end = bounds[b + 1]!
      const pieces = this.pieces(text, start, end, fontOf, levels)
      const width = widthOf(pieces)
      if (text.charCodeAt(start) === 0x20) {
        // Spaces: kept at the start of a paragraph (indentation), dropped at a wrap.
        if (lines.length === 0 && line.length === 0) add(pieces, width)
        else if (line.length > 0) {
          pending.push(...pieces)
          pendingWidth += width
        }
        continue
      }
      if (lineWidth + pendingWidth + width <= maxWidth || (line.length === 0 && width <= maxWidth)) {
        add(pieces, width)
        continue
      }
      if (line.length > 0) flush()
      if (width <= maxWidth) {
        add(pieces, width)
        continue
      }
      // A word wider than a line: cut between clusters, as much per line as fits.
      const word = text.slice(start, end)
      const cuts = [0, ...clusterStarts(word), word.length]
      let from = 0
      let used = 0
      for (let c = 1; c < cuts.length; c++) {
        const clusterWidth = widthOf(this.pieces(text, start + cuts[c - 1]!, start + cuts[c]!, fontOf, levels))
        if (used + clusterWidth > maxWidth && cuts[c - 1]! > from) {
          const chunk = this.pieces(text, start + from, start + cuts[c - 1]!, fontOf, levels)
          add(chunk, widthOf(chunk))
          flush()
          from = cuts[c - 1]!
          used = 0
        }
        used += clusterWidth
      }
      const rest = this.pieces(text, start + from, end, fontOf, levels)
      add(rest, widthOf(rest))
    }
    if (line.length > 0 || lines.length === 0) flush()
    return lines
  }
}

/**
 * Text extractors read a line back from the glyphs' visual order, and
 * poppler's pdftotext does it with a simplification of the bidi algorithm in
 * which digits and some punctuation count as left-to-right: the spaces
 * between such a run and right-to-left text after it, or a hyphen before a
 * number, come out on the wrong side. The plain-text remedy is a direction
 * mark after the run, and that is what is added, as an invisible zero-width
 * piece at the paragraph's level (so rule L2 puts it where the character
 * would go): in a right-to-left paragraph a right-to-left mark after a run
 * that does not end in a right-to-left letter when right-to-left text follows
 * after spaces, or when a run of another level follows at once; in a
 * left-to-right paragraph a left-to-right mark after a run ending in a
 * right-to-left letter when something else follows after spaces. `pieces`
 * are in logical order.
 */
export function extractionMarks(pieces: readonly ShapedPiece[], rtl: boolean, level: number): ShapedPiece[] {
  const marked: ShapedPiece[] = []
  pieces.forEach((piece, i) => {
    marked.push(piece)
    if (piece.text.startsWith(' ')) return
    let next = i + 1
    while (next < pieces.length && pieces[next]!.text.startsWith(' ')) next++
    if (next >= pieces.length) return
    const following = pieces[next]!
    const spaced = next > i + 1
    const last = [...piece.text].at(-1)!
    const first = [...following.text][0]!
    let mark: 'rlm' | 'lrm' | undefined
    if (rtl && !isStrongRtl(last) && (spaced ? isStrongRtl(first) : !isStrongRtl(first) && following.level !== piece.level)) mark = 'rlm'
    else if (!rtl && spaced && isStrongRtl(last) && !isStrongRtl(first)) mark = 'lrm'
    if (mark) marked.push({ text: '', font: piece.font, level, glyphs: [], positions: [], width: 0, mark })
  })
  return marked
}

/** Rule L2: from the highest level down to the lowest odd one, reverse every run of pieces at that level or above. */
export function visualLine(pieces: readonly ShapedPiece[], width: number, rtl: boolean): LaidLine {
  const order = extractionMarks(pieces, rtl, rtl ? 1 : 0)
  let highest = 0
  let lowestOdd = Infinity
  for (const p of order) {
    highest = Math.max(highest, p.level)
    if (p.level % 2 === 1) lowestOdd = Math.min(lowestOdd, p.level)
  }
  for (let level = highest; level >= lowestOdd; level--) {
    for (let i = 0; i < order.length; ) {
      if (order[i]!.level < level) {
        i++
        continue
      }
      let j = i
      while (j < order.length && order[j]!.level >= level) j++
      order.splice(i, j - i, ...order.slice(i, j).reverse())
      i = j
    }
  }
  return { text: pieces.map((p) => p.text).join(''), pieces: order, width, rtl }
}
