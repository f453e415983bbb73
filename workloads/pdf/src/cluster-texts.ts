// The text each glyph stands for, from the clusters a HarfBuzz-style shaper
// reports (the wasm host's, host-fonts.ts): what ToUnicode and the
// ActualText spans are made of.
import { mirrored } from './text-layout.ts'

/**
 * The glyphs' texts from their clusters: the first glyph of a cluster (in
 * visual order) carries the cluster's characters, the others none. A single
 * character in right-to-left text is given as drawn: a bracket mirrored.
 */
export function clusterTexts(text: string, clusters: readonly number[], rtl: boolean): string[] {
  const starts = [...new Set(clusters)].sort((a, b) => a - b)
  const seen = new Set<number>()
  return clusters.map((start) => {
    if (seen.has(start)) return ''
    seen.add(start)
    const next = starts[starts.indexOf(start) + 1] ?? text.length
    const chars = text.slice(start, next)
    return rtl && [...chars].length === 1 ? mirrored(chars) : chars
  })
}
