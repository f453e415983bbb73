// What the page shows, per script the bundled fonts cover: a line rendered
// with the real renderer and rasterised by pdftoppm has ink in the first
// line's band, from the left margin for left-to-right scripts and up to the
// right margin for right-to-left ones, about as wide as the line was laid
// out; and no character was drawn as the font's .notdef box.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadBundledFonts } from '../../../workloads/node/bundled-fonts.ts'
import { renderPdf } from '../../../workloads/pdf/src/render-pdf.ts'
import { ParagraphLayout } from '../../../workloads/pdf/src/text-layout.ts'
import { inkRuns, renderedPage } from '../../harness/pdf-page.ts'

const fonts = await loadBundledFonts()
const layout = new ParagraphLayout(fonts, 11)

// A4 with 56 pt margins and 11 pt text (render-pdf.ts).
const PAGE_WIDTH = 595
const MARGIN = 56
const TEXT_WIDTH = 595.28 - 2 * MARGIN

const samples: Record<string, { text: string; rtl?: boolean }> = {
  'Latin, Greek, Cyrillic': { text: 'Zażółć gęślą jaźń, Καλημέρα, Привет' },
  Arabic: { text: 'مرحبا بالعالم، هذه وثيقة عربية', rtl: true },
  Hebrew: { text: 'שָׁלוֹם עולם, זהו מסמך בעברית', rtl: true },
  Devanagari: { text: 'नमस्ते दुनिया, क्षमा श्री किताब' },
  Thai: { text: 'สวัสดีชาวโลก น้ำแข็ง ผู้ใหญ่' },
  Chinese: { text: '你好，世界。这是一个中文文档。' },
  Japanese: { text: 'こんにちは世界。カタカナ、日本語。' },
  Korean: { text: '안녕하세요 세계. 한국어 문서입니다.' },
  Bengali: { text: 'আমি বাংলায় কথা বলি, ক্ষমা প্রশ্ন' },
  Tamil: { text: 'வணக்கம், தமிழ் பொங்கல் கௌரவம்' },
  Telugu: { text: 'నమస్కారం, తెలుగు స్త్రీ కొండ' },
  Gujarati: { text: 'નમસ્તે, ગુજરાતી ભાષા કૃપા' },
  Gurmukhi: { text: 'ਸਤ ਸ੍ਰੀ ਅਕਾਲ, ਪੰਜਾਬੀ ਭਾਸ਼ਾ' },
  Kannada: { text: 'ನಮಸ್ಕಾರ, ಕನ್ನಡ ಭಾಷೆ ಕೊಡು' },
  Malayalam: { text: 'നമസ്കാരം, മലയാളം കൊച്ചി' },
  Sinhala: { text: 'ආයුබෝවන්, ශ්‍රී ලංකාව කොළඹ' },
  Khmer: { text: 'សួស្តី ភាសាខ្មែរ ស្ត្រី' },
  Lao: { text: 'ສະບາຍດີ ພາສາລາວ ນ້ຳ' },
  Myanmar: { text: 'မင်္ဂလာပါ မြန်မာ ကျောင်း' },
  Georgian: { text: 'გამარჯობა, ქართული ენა' },
  Armenian: { text: 'Բարև, հայերեն լեզու' },
  Ethiopic: { text: 'ሰላም፣ አማርኛ ቋንቋ' },
  'Symbols (DejaVu Sans)': { text: '✓ ⌘ ☃ ♞ ⚓ ✈' },
}

test('every script is drawn: ink in the first line, from the margin it starts at, as wide as laid out', async () => {
  for (const [script, { text, rtl = false }] of Object.entries(samples)) {
    const [line] = layout.layout(text, TEXT_WIDTH)
    assert.equal(line!.rtl, rtl, `${script}: direction`)
    const page = await renderedPage(await renderPdf(text, { fonts: () => fonts }))
    const runs = inkRuns(page)
    assert.ok(runs.length > 0, `${script}: ink in the first line`)
    const [from, to] = [runs[0]![0], runs.at(-1)![1]]
    if (rtl) assert.ok(Math.abs(to - (PAGE_WIDTH - MARGIN)) <= 4, `${script}: ink ends at ${to}, the right margin is at ${PAGE_WIDTH - MARGIN}`)
    else assert.ok(Math.abs(from - MARGIN) <= 4, `${script}: ink starts at ${from}, the left margin is at ${MARGIN}`)
    // Glyphs that draw nothing (or nothing but a box) would leave the line short.
    assert.ok(to - from >= 0.85 * line!.width && to - from <= line!.width + 8, `${script}: ink ${from}-${to} for a line ${line!.width.toFixed(1)} pt wide`)
  }
})

test('no character of any script is drawn as .notdef', () => {
  for (const [script, { text }] of Object.entries(samples)) {
    assert.deepEqual(fonts.undrawable(text), [], script)
    for (const piece of layout.layout(text, TEXT_WIDTH)[0]!.pieces) {
      const missing = piece.glyphs.filter((glyph) => glyph.id === 0)
      assert.equal(missing.length, 0, `${script}: ${JSON.stringify(piece.text)} in ${fonts.files[piece.font]}`)
    }
  }
})
