// What the PDF service keeps between documents (encoded font subsets), the
// glyph texts made from the host's clusters, and text fontkit cannot
// position: the output stays what it was without them.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pdftotextOf } from '../../harness/pdf-page.ts'
import { loadBundledFonts } from '../../../workloads/node/bundled-fonts.ts'
import { clusterTexts } from '../../../workloads/pdf/src/cluster-texts.ts'
import type { EncodedProgram } from '../../../workloads/pdf/src/pdf-font.ts'
import { renderPdf } from '../../../workloads/pdf/src/render-pdf.ts'

const textOf = async (pdf: Uint8Array) =>
  (await pdftotextOf(pdf))
    .replace(/[\u200e\u200f\u202a-\u202e]/g, '')
    .replace(/\s+/g, ' ')
    .trim()

test('a second document with the same glyphs reuses the encoded subset and comes out the same', async () => {
  const fonts = await loadBundledFonts()
  const programs = fonts.cache<EncodedProgram>('subset-programs')
  const text = 'مرحبا بالعالم\nשלום עולם\nпривет'
  const first = await renderPdf(text, { fonts: () => fonts })
  const cached = [...programs.values()]
  assert.equal(cached.length, 3, 'one subset each for the Arabic, Latin and Hebrew fonts')
  const second = await renderPdf(text, { fonts: () => fonts })
  assert.deepEqual([...programs.values()].sort(), cached.sort(), 'the same subsets, not encoded again')
  assert.deepEqual(second, first)
  await renderPdf('другой текст', { fonts: () => fonts })
  assert.equal(programs.size, 4, 'other glyphs are another subset')
  assert.equal(await textOf(second), text.replace(/\n/g, ' '))
})

test('glyph texts from clusters: the first glyph of a cluster carries it, the others none', () => {
  // Devanagari कि: the vowel sign drawn first, both glyphs in cluster 0.
  assert.deepEqual(clusterTexts('कि', [0, 0], false), ['कि', ''])
  // Lam-alef, right to left: one glyph for two characters; then a bracket, given mirrored as drawn.
  assert.deepEqual(clusterTexts('(لا', [1, 0], true), ['لا', ')'])
  // Several clusters, visual order right to left.
  assert.deepEqual(clusterTexts('abc', [2, 1, 0], true), ['c', 'b', 'a'])
})

test('marks fontkit cannot position are drawn at their default place, not refused', async () => {
  const fonts = await loadBundledFonts()
  // Lao sara am and a vowel below: the font has no anchor for it, and fontkit throws.
  for (const text of ['ກຳຸ', 'ຳຸ']) assert.equal(await textOf(await renderPdf(text, { fonts: () => fonts })), text)
})
