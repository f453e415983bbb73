// Shaping that fontkit leaves out and its backend (fontkit-fonts.ts) does itself: Myanmar
// syllables put in the order their font expects, Lao SARA AM split in two,
// and chained contextual lookups whose backtrack fontkit reads backwards.
// Checked on the glyphs the bundled fonts give, in the order they are drawn.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadBundledFonts } from '../../../workloads/node/bundled-fonts.ts'
import { bundledFonts } from '../../../workloads/pdf/src/font-list.ts'
import { splitSaraAm } from '../../../workloads/pdf/src/lao.ts'
import { myanmarVisualOrder } from '../../../workloads/pdf/src/myanmar.ts'
import type { ShapedGlyph } from '../../../workloads/pdf/src/text-font.ts'
import { ParagraphLayout } from '../../../workloads/pdf/src/text-layout.ts'

const fonts = await loadBundledFonts()
const layout = new ParagraphLayout(fonts, 11)
const fontIndex = (file: string) => bundledFonts.findIndex((f) => f.file === file)
const myanmar = fontIndex('NotoSansMyanmar-Regular.ttf')

/** The characters each glyph was shaped from, glyph by glyph in drawing order. */
const glyphTexts = (glyphs: readonly ShapedGlyph[]) => glyphs.map((g) => g.text)
const codePoints = (text: string) => [...text].map((ch) => ch.codePointAt(0)!.toString(16))

test('Myanmar: the vowel sign E and the medial RA go before their consonant, a kinzi after it, an ANUSVARA before a vowel sign below', () => {
  // မြန်မာ: MA, medial RA, NA, ASAT, MA, AA.
  assert.deepEqual(codePoints(myanmarVisualOrder('မြန်မာ')), codePoints('\u103c\u1019\u1014\u103a\u1019\u102c'))
  // ကြော: KA, medial RA, E, AA -> E, medial RA, KA, AA.
  assert.deepEqual(codePoints(myanmarVisualOrder('ကြော')), codePoints('\u1031\u103c\u1000\u102c'))
  // A syllable stacked with VIRAMA keeps its first consonant as the base; လေး puts E first.
  assert.deepEqual(codePoints(myanmarVisualOrder('မန္တလေး')), codePoints('\u1019\u1014\u1039\u1010\u1031\u101c\u1038'))
  // သင်္ချိုင်း: the kinzi (NGA, ASAT, VIRAMA) moves after KHA, the consonant it is drawn over.
  assert.deepEqual(codePoints(myanmarVisualOrder('သင်္ချိုင်း')), codePoints('\u101e\u1001\u1004\u103a\u1039\u103b\u102d\u102f\u1004\u103a\u1038'))
  // ပုံ: PA, U, ANUSVARA -> PA, ANUSVARA, U.
  assert.deepEqual(codePoints(myanmarVisualOrder('ပုံ')), codePoints('\u1015\u1036\u102f'))
  // Text around it is left alone.
  assert.equal(myanmarVisualOrder('abc 123'), 'abc 123')
})

test('Myanmar is drawn in that order, with the font\'s stacked and kinzi forms', () => {
  const [medialRa, ma] = layout.shape('မြန်မာ', myanmar, 0).glyphs
  assert.deepEqual(glyphTexts([medialRa!, ma!]), ['\u103c', '\u1019'])
  assert.equal(glyphTexts(layout.shape('ကြော', myanmar, 0).glyphs).join(''), '\u1031\u103c\u1000\u102c')
  // The kinzi is one glyph, after KHA; TA under NA is one glyph (the font's subscript form).
  const kinzi = glyphTexts(layout.shape('သင်္ချိုင်း', myanmar, 0).glyphs)
  assert.deepEqual(kinzi.slice(0, 3), ['\u101e', '\u1001', '\u1004\u103a\u1039'])
  assert.ok(glyphTexts(layout.shape('မန္တလေး', myanmar, 0).glyphs).includes('\u1039\u1010'))
})

test('a chained contextual rule with a backtrack of two glyphs applies: the Myanmar U under a medial RA takes its spacing form', () => {
  // The font's rule looks back at the consonant and, before it, the medial RA. Read backwards
  // (as fontkit reads it) it never matches, and the U is drawn inside the RA with no advance.
  const piece = layout.shape('ကြု', myanmar, 0)
  assert.deepEqual(glyphTexts(piece.glyphs), ['\u103c', '\u1000', '\u102f'])
  assert.ok(piece.positions[2]!.xAdvance > 0, `U advances ${piece.positions[2]!.xAdvance}`)
  // Without the medial RA, the U stays a mark under its consonant.
  assert.equal(layout.shape('ကု', myanmar, 0).positions[1]!.xAdvance, 0)
})

test('Lao: SARA AM is split into NIGGAHITA and SARA AA, the NIGGAHITA before the tone mark, and stacked with it', () => {
  assert.equal(splitSaraAm('ນ້ຳ'), 'ນ\u0ecd\u0ec9\u0eb2')
  assert.equal(splitSaraAm('ຄຳ'), 'ຄ\u0ecd\u0eb2')
  assert.equal(splitSaraAm('ລາວ'), 'ລາວ')
  const lao = fontIndex('NotoSansLao-Regular.ttf')
  // One glyph for ring and tone mark together, then SARA AA; never the whole SARA AM glyph.
  assert.deepEqual(glyphTexts(layout.shape('ນ້ຳ', lao, 0).glyphs), ['ນ', '\u0ecd\u0ec9', '\u0eb2'])
})
