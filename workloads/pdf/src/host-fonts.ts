// The PDF service's fonts in the component: the wasm host's platform fonts
// (the lean:text/fonts import, task-driver/engine/wit/text/fonts.wit). The
// host opens each font once per task and shapes and subsets natively, so an
// instance holds no parsed font, and no font is bundled in the component.
import { coverage, listFonts, shape, subset, type HostGlyph } from 'lean:text/fonts@0.1.0'
import type { FontCollection, ShapedGlyph, ShapedRun, TextFont } from './text-font.ts'
import { clusterTexts } from './cluster-texts.ts'

class HostFont implements TextFont {
  constructor(
    private readonly index: number,
    readonly file: string,
    readonly postscriptName: string,
    readonly unitsPerEm: number,
    readonly ascent: number,
    readonly descent: number,
    readonly capHeight: number,
    readonly italicAngle: number,
    readonly bbox: TextFont['bbox'],
  ) {}

  shape(text: string, rtl: boolean): ShapedRun {
    const shaped: HostGlyph[] = shape(this.index, text, rtl)
    const texts = clusterTexts(
      text,
      shaped.map((g) => g.cluster),
      rtl,
    )
    const glyphs: ShapedGlyph[] = shaped.map((g, i) => ({ id: g.id, advance: g.advance, text: texts[i]! }))
    return { glyphs, positions: shaped }
  }

  subset(glyphIds: readonly number[]): Uint8Array {
    return subset(this.index, Uint16Array.from(glyphIds))
  }
}

/** The host's fonts; an error (a font the node lacks) is thrown with the host's text. */
export function hostFonts(): FontCollection {
  const fonts = listFonts().map(
    (info, i) =>
      new HostFont(i, info.file, info.postscriptName, info.unitsPerEm, info.ascent, info.descent, info.capHeight, info.italicAngle, {
        minX: info.bbox[0],
        minY: info.bbox[1],
        maxX: info.bbox[2],
        maxY: info.bbox[3],
      }),
  )
  return { fonts, coverage: (cp) => coverage(String.fromCodePoint(cp))[0] ?? 0 }
}
