// Layout of text in every script with the bundled fonts (read from Debian's
// folders as the component build reads them): bidi order, font fallback,
// shaping, wrapping, and what pdftotext reads back from the rendered PDF.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { loadBundledFonts } from '../../../workloads/node/bundled-fonts.ts'
import { bundledFonts } from '../../../workloads/pdf/src/font-list.ts'
import { renderPdf, UndrawableTextError } from '../../../workloads/pdf/src/render-pdf.ts'
import { breakOpportunities, ParagraphLayout } from '../../../workloads/pdf/src/text-layout.ts'
import { pdftotextDifferences, roundTripCorpus } from './round-trip-corpus.ts'

const run = promisify(execFile)
const fonts = await loadBundledFonts()
const fontIndex = (file: string) => bundledFonts.findIndex((f) => f.file === file)

// pdftotext marks right-to-left stretches with U+202A-U+202E and reads the PDF's invisible direction marks: formatting, not text.
const normalise = (text: string) => text.replace(/[\u200e\u200f\u202a-\u202e]/g, '').replace(/\s+/g, ' ').trim()

/** What pdftotext reads from `text` rendered, as it prints it. */
async function pdftotext(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'layout-'))
  try {
    await writeFile(path.join(dir, 'in.pdf'), await renderPdf(text, { fonts: () => fonts }))
    const { stdout } = await run('pdftotext', ['-enc', 'UTF-8', path.join(dir, 'in.pdf'), '-'])
    return stdout
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const extract = async (text: string) => normalise(await pdftotext(text))

/** Whether the text has a right-to-left letter. */
const hasRtl = (text: string) => /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/.test(text)

test('the wasm host serves the files of font-list.ts, in the same order', async () => {
  const source = await readFile(new URL('../../../task-driver/engine/src/fonts.rs', import.meta.url), 'utf8')
  const list = /pub const FONT_FILES: &\[&str\] = &\[([^\]]*)\]/.exec(source)![1]!
  assert.deepEqual([...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]), bundledFonts.map((f) => f.file))
})

test('each script gets the font made for it; spaces and digits stay in the font around them if it has them', () => {
  const fontFor: Record<string, string> = {
    a: 'NotoSans-Regular.ttf',
    Ω: 'NotoSans-Regular.ttf',
    Ж: 'NotoSans-Regular.ttf',
    ש: 'NotoSansHebrew-Regular.ttf',
    م: 'NotoSansArabic-Regular.ttf',
    你: 'DroidSansFallbackFull.ttf',
    か: 'DroidSansFallbackFull.ttf',
    한: 'NanumGothic.ttf',
    न: 'NotoSansDevanagari-Regular.ttf',
    ไ: 'NotoSansThai-Regular.ttf',
    ক: 'NotoSansBengali-Regular.ttf',
    த: 'NotoSansTamil-Regular.ttf',
    త: 'NotoSansTelugu-Regular.ttf',
    ગ: 'NotoSansGujarati-Regular.ttf',
    ਪ: 'NotoSansGurmukhi-Regular.ttf',
    ಕ: 'NotoSansKannada-Regular.ttf',
    മ: 'NotoSansMalayalam-Regular.ttf',
    ස: 'NotoSansSinhala-Regular.ttf',
    ខ: 'NotoSansKhmer-Regular.ttf',
    ລ: 'NotoSansLao-Regular.ttf',
    မ: 'NotoSansMyanmar-Regular.ttf',
    ქ: 'NotoSansGeorgian-Regular.ttf',
    Հ: 'NotoSansArmenian-Regular.ttf',
    ሰ: 'NotoSansEthiopic-Regular.ttf',
    '✓': 'DejaVuSans.ttf',
  }
  const text = Object.keys(fontFor).join(' 12 ')
  const assigned = fonts.assign(text)
  for (const [ch, file] of Object.entries(fontFor)) {
    const at = text.indexOf(ch)
    assert.equal(fonts.files[assigned[at]!], file, ch)
    if (at + 1 === text.length) continue
    // The space after it stays in its font, and so do digits if the font has them (else Noto Sans draws them).
    assert.equal(fonts.files[assigned[at + 1]!], file, `space after ${ch}`)
    const hasDigits = fonts.has(assigned[at]!, 0x31)
    assert.equal(fonts.files[assigned[at + 2]!], hasDigits ? file : 'NotoSans-Regular.ttf', `digits after ${ch}`)
  }
  // The virama and vowel signs of नमस्ते, and the medials and vowel signs of မြန်မာ, stay with their consonants.
  assert.ok(fonts.assign('नमस्ते').every((f) => f === fontIndex('NotoSansDevanagari-Regular.ttf')))
  assert.ok(fonts.assign('မြန်မာ').every((f) => f === fontIndex('NotoSansMyanmar-Regular.ttf')))
})

test('characters no font has are listed once each, in order; invisible ones never', () => {
  assert.deepEqual(fonts.undrawable('a 𒀀 b 𒀀 \u200d\u200f 𐀀'), ['𒀀', '𐀀'])
  assert.deepEqual(fonts.undrawable('שלום, 世界'), [])
})

test('rendering refuses undrawable text with an error naming the code points', async () => {
  await assert.rejects(
    () => renderPdf('ok 𒀀', { fonts: () => fonts }),
    (err: unknown) => err instanceof UndrawableTextError && err.code === 'PDF_UNDRAWABLE_TEXT' && /U\+12000 "𒀀"/.test(err.message),
  )
  // Tibetan and Mongolian have no bundled font: refused, while the Myanmar and Ethiopic beside them are not named.
  await assert.rejects(
    () => renderPdf('བོད་ཡིག ᠮᠣᠩᠭᠣᠯ မြန်မာ ሰላም', { fonts: () => fonts }),
    (err: unknown) => err instanceof UndrawableTextError && err.characters.join('') === 'བོད་ཡིགᠮᠣᠩᠭᠯ' && /U\+0F56 "བ"/.test(err.message) && /U\+182E "ᠮ"/.test(err.message),
  )
})

test('a right-to-left paragraph comes out right to left, its number left to right, set flush right', () => {
  const layout = new ParagraphLayout(fonts, 11)
  const [line] = layout.layout('שלום 123 עולם', 400)
  assert.equal(line!.rtl, true)
  const visual = line!.pieces.filter((p) => !p.mark).map((p) => p.text)
  assert.deepEqual(visual, ['עולם', ' ', '123', ' ', 'שלום'])
  assert.equal(line!.text, 'שלום 123 עולם')
})

test('Arabic is shaped: joined letters use contextual forms, not the isolated ones', () => {
  const layout = new ParagraphLayout(fonts, 11)
  const arabic = fontIndex('NotoSansArabic-Regular.ttf')
  const word = layout.shape('سلسبيل', arabic, 1)
  const isolated = [...'سلسبيل'].map((ch) => layout.shape(ch, arabic, 1).glyphs[0]!.id)
  // Visual order is reversed; every letter of a joined word takes another glyph than alone.
  const joined = [...word.glyphs].reverse().map((g) => g.id)
  assert.equal(joined.length, isolated.length)
  assert.ok(joined.every((id, i) => id !== isolated[i]), `${joined} vs ${isolated}`)
})

test('lines wrap within the width, at spaces, and between CJK characters but not before their closing punctuation', () => {
  const layout = new ParagraphLayout(fonts, 11)
  const text = Array.from({ length: 30 }, (_, i) => `מילה${i}`).join(' ')
  const lines = layout.layout(text, 200)
  assert.ok(lines.length > 2)
  for (const line of lines) assert.ok(line.width <= 200, `${line.width}`)
  assert.equal(lines.map((l) => l.text).join(' '), text)

  const cjk = '这是一个很长的中文句子，需要在字符之间换行。'.repeat(4)
  const cjkLines = layout.layout(cjk, 120)
  assert.ok(cjkLines.length > 3)
  for (const line of cjkLines) {
    assert.ok(line.width <= 120)
    assert.ok(!/^[，。]/.test(line.text), `no line starts with closing punctuation: ${line.text}`)
  }
  assert.equal(cjkLines.map((l) => l.text).join(''), cjk)
  assert.deepEqual(breakOpportunities('ab cd'), [2, 3])
})

test('a word wider than the line is cut between clusters, never inside one', () => {
  const layout = new ParagraphLayout(fonts, 11)
  const word = 'नमस्ते'.repeat(20)
  const lines = layout.layout(word, 100)
  assert.ok(lines.length > 1)
  assert.equal(lines.map((l) => l.text).join(''), word)
  for (const line of lines) assert.ok(!/^[\u093e-\u094d]/.test(line.text), `no line starts with a vowel sign or virama: ${line.text}`)
})

test('pdftotext reads every script back in logical order', async () => {
  for (const text of [
    'مرحبا بالعالم، هذه وثيقة عربية.',
    'שלום עולם, יש לי 123 תפוחים ו-45 אגסים.',
    '你好，世界。这是一个中文文档。',
    'こんにちは世界。これは日本語の文書です。',
    '안녕하세요 세계. 이것은 한국어 문서입니다.',
    'नमस्ते दुनिया। यह हिन्दी दस्तावेज़ है।',
    'สวัสดีชาวโลก นี่คือเอกสารภาษาไทย',
    'Привет, мир! Καλημέρα κόσμε (Ελλάδα).',
    'English with עברית inside, and more.',
  ]) {
    assert.equal(await extract(text), text)
  }
})

test('a vowel sign drawn back under its consonant does not split the word for pdftotext', async () => {
  // Zero-width signs placed left of the pen (Bengali U under TA, Gujarati vocalic R under KA):
  // poppler ends the word at the sign and reads the gap to the next letter as a space, unless
  // the piece carries its text.
  for (const text of ['নতুন', 'তৃতীয়', 'કૃપા', 'ಕೃಷಿ']) assert.equal(await extract(text), text)
})

test('every word and sentence of the corpus reads back as written', async () => {
  for (const [script, entries] of Object.entries(roundTripCorpus)) {
    // pdftotext reads a page left to right or right to left by what most of it is: text with
    // right-to-left letters gets a document per entry; the other scripts one document, an entry per line.
    if (entries.some(hasRtl)) {
      for (const text of entries) assert.equal(await extract(text), text, script)
      continue
    }
    const lines = (await pdftotext(entries.join('\n'))).split(/[\n\f]/).map(normalise).filter((line) => line !== '')
    const wrong = entries.flatMap((text, i) => (lines[i] === text ? [] : [`${JSON.stringify(text)} read as ${JSON.stringify(lines[i])}`]))
    assert.deepEqual(wrong, [], `${script}: ${wrong.length} of ${entries.length} entries`)
    assert.equal(lines.length, entries.length, `${script}: one line per entry`)
  }
})

test('a lam-alef ligature is one glyph, drawn inside a span that gives its two letters back', async () => {
  const layout = new ParagraphLayout(fonts, 11)
  const piece = layout.shape('لا', fontIndex('NotoSansArabic-Regular.ttf'), 1)
  assert.equal(piece.glyphs.length, 1)
  assert.equal(await extract('لا'), 'لا')
  assert.equal(await extract('السلام عليكم'), 'السلام عليكم')
  assert.equal(await extract('فلا بأس'), 'فلا بأس')
})

test('what pdftotext reads differently is known and listed', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8')
  for (const { text, readBack } of pdftotextDifferences) {
    assert.equal(await extract(text), readBack, text)
    assert.ok(readme.includes(`| \`${text}\` | \`${readBack}\` |`), `README lists ${text}`)
  }
})
