// A correction to the fonts' tables as fontkit 2.0.4 reads them. In a
// chained contextual lookup (GSUB type 6, GPOS type 8) the OpenType format
// stores the backtrack glyphs nearest first, but fontkit compares the first
// one with the glyph farthest back, so a rule whose backtrack is more than
// one glyph long, with different glyphs at each place, never matches. Fonts
// lean on such rules for the forms that depend on what comes before: Myanmar
// takes its spacing vowel sign U (drawn clear of a medial RA) from one, and
// without it the U sits inside the RA. Each lookup's stored backtracks are
// reversed as fontkit reads the lookup from the font (only the lookups a
// text needs are ever read, so this costs nothing else), which makes
// fontkit's order the right one. (fontkit is pinned; a unit test shows the
// Myanmar form, and would fail if a fontkit that reads the order right were
// to be reversed again here.)
import type { Font } from 'fontkit'

interface ChainRule {
  backtrack: readonly number[]
}

interface ChainSubtable {
  version: number
  lookupType?: number
  extension?: ChainSubtable
  chainRuleSets?: readonly (readonly ChainRule[] | null)[]
  chainClassSet?: readonly (readonly ChainRule[] | null)[]
  backtrackCoverage?: readonly unknown[]
}

interface Lookup {
  lookupType: number
  subTables: ChainSubtable[]
}

interface LookupTable {
  /** restructure's lazily read array: fontkit reads lookups only through get. */
  lookupList?: { get(index: number): Lookup | undefined }
}

/** Per table: the lookup types of a chained context and of an extension (which wraps another lookup). */
const CHAIN = { GSUB: 6, GPOS: 8 } as const
const EXTENSION = { GSUB: 7, GPOS: 9 } as const

const corrected = new WeakSet<Font>()

/** Makes every chained contextual lookup of `font` come out of the font with its backtrack in the order fontkit reads it. Once per font, before it shapes anything. */
export function correctBacktrackOrder(font: Font): void {
  if (corrected.has(font)) return
  corrected.add(font)
  for (const tag of ['GSUB', 'GPOS'] as const) {
    const lookups = (font as unknown as Record<string, LookupTable | undefined>)[tag]?.lookupList
    if (!lookups) continue
    const read = lookups.get.bind(lookups)
    const seen = new WeakSet<Lookup>()
    lookups.get = (index) => {
      const lookup = read(index)
      if (lookup && !seen.has(lookup)) {
        seen.add(lookup)
        correctLookup(lookup, tag)
      }
      return lookup
    }
  }
}

function correctLookup(lookup: Lookup, tag: 'GSUB' | 'GPOS'): void {
  for (let subtable of lookup.subTables) {
    let type = lookup.lookupType
    if (type === EXTENSION[tag] && subtable.extension) {
      type = subtable.lookupType!
      subtable = subtable.extension
    }
    if (type === CHAIN[tag]) reverseBacktracks(subtable)
  }
}

function reverseBacktracks(subtable: ChainSubtable): void {
  const reverseRules = (sets: readonly (readonly ChainRule[] | null)[] | undefined) => {
    for (const set of sets ?? []) for (const rule of set ?? []) if (rule.backtrack.length > 1) rule.backtrack = [...rule.backtrack].reverse()
  }
  if (subtable.version === 1) reverseRules(subtable.chainRuleSets)
  else if (subtable.version === 2) reverseRules(subtable.chainClassSet)
  else if (subtable.version === 3 && subtable.backtrackCoverage && subtable.backtrackCoverage.length > 1) subtable.backtrackCoverage = [...subtable.backtrackCoverage].reverse()
}
