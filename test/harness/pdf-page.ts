// A PDF's first page as pixels, for tests that check what a page shows:
// rendered by poppler's pdftoppm at 72 dpi (one pixel per point) in grey.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface RenderedPage {
  readonly width: number
  readonly height: number
  /** 8-bit grey, 0 = ink. */
  pixel(x: number, y: number): number
}

/** Page 1 of the PDF, rendered by pdftoppm at 72 dpi. */
export async function renderedPage(bytes: Uint8Array): Promise<RenderedPage> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pdf-page-'))
  try {
    await writeFile(path.join(dir, 'in.pdf'), bytes)
    await run('pdftoppm', ['-gray', '-r', '72', '-f', '1', '-l', '1', '-singlefile', path.join(dir, 'in.pdf'), path.join(dir, 'page')])
    const pgm = await readFile(path.join(dir, 'page.pgm'))
    const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 32).toString('latin1'))!
    const [width, height] = [Number(header[1]), Number(header[2])]
    const offset = header[0].length
    return { width, height, pixel: (x, y) => pgm[offset + y * width + x]! }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Columns with ink between rows `top` and `bottom` (by default the first
 * text line's band: its baseline is 67 pt from the top of an A4 page with
 * 56 pt margins and 11 pt text), as runs [from, to).
 */
export function inkRuns(page: RenderedPage, top = 50, bottom = 75): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  let start = -1
  for (let x = 0; x < page.width; x++) {
    let ink = false
    for (let y = top; y < bottom && !ink; y++) ink = page.pixel(x, y) < 128
    if (ink && start === -1) start = x
    if (!ink && start !== -1) {
      runs.push([start, x])
      start = -1
    }
  }
  if (start !== -1) runs.push([start, page.width])
  return runs
}

/** What poppler's pdftotext reads from the PDF, as it prints it (lines and page breaks kept). */
export async function pdftotextOf(bytes: Uint8Array): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pdf-text-'))
  try {
    await writeFile(path.join(dir, 'in.pdf'), bytes)
    return (await run('pdftotext', ['-enc', 'UTF-8', path.join(dir, 'in.pdf'), '-'])).stdout
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
