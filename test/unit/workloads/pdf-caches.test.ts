// What the PDF service keeps between documents (encoded font subsets), the
// glyph texts made from the host's clusters, and text fontkit cannot
// position: the output stays what it was without them.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { loadBundledFonts } from '../../../workloads/node/bundled-fonts.ts'
import { clusterTexts } from '../../../workloads/pdf/src/cluster-texts.ts'
import type { EncodedProgram } from '../../../workloads/pdf/src/pdf-font.ts'
import { renderPdf } from '../../../workloads/pdf/src/render-pdf.ts'

const run = promisify(execFile)

async function textOf(pdf: Uint8Array): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pdf-caches-'))
  try {
    await writeFile(path.join(dir, 'in.pdf'), pdf)
    const { stdout } = await run('pdftotext', ['-enc', 'UTF-8', path.join(dir, 'in.pdf'), '-'])
    return stdout.replace(/[\u200e\u200f\u202a-\u202e]/g, '').replace(/\s+/g, ' ').trim()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

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
