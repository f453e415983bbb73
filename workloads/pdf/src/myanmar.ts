// Myanmar shaping that fontkit does not do. OpenType fonts for Myanmar
// (mym2) expect the shaping engine to put each syllable's characters in
// visual order before the font's substitutions run: the vowel sign E
// (U+1031) and the medial RA (U+103C) are written after their consonant but
// drawn to its left, and a kinzi (NGA, ASAT, VIRAMA before a consonant) is
// drawn above the consonant that follows it. fontkit has no Myanmar shaper
// (mym2 falls to its default one), so without this the E and the RA stand
// on the right of their consonant and the kinzi sits on the consonant
// before. The default shaper also leaves out the features a Myanmar font
// keeps its stacked consonants and medial forms in; layout asks for them.
import { isMark } from 'unicode-properties'

/** The features of the OpenType Myanmar model (the font's own order of lookups applies them). */
export const MYANMAR_FEATURES: readonly string[] = ['rphf', 'pref', 'blwf', 'pstf', 'pres', 'abvs', 'blws', 'psts']

/** Myanmar, Myanmar Extended-A and Extended-B. */
const MYANMAR = /[\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff]/
const isMyanmarLetter = (cp: number) => (cp >= 0x1000 && cp <= 0x109f) || (cp >= 0xaa60 && cp <= 0xaa7f) || (cp >= 0xa9e0 && cp <= 0xa9ff)

export const hasMyanmar = (text: string) => MYANMAR.test(text)

const VIRAMA = 0x1039
const KINZI = [0x1004, 0x103a, VIRAMA]

// Where a character goes in its syllable, left to right (a stable sort keeps
// the written order among characters of the same place).
const PRE_BASE_VOWEL = 0
const PRE_BASE_MEDIAL = 1
const BASE = 2
const AFTER_BASE = 3
const BEFORE_BELOW = 4
const BELOW = 5
const AFTER_BELOW = 6

const isBelowVowel = (cp: number) => cp === 0x102f || cp === 0x1030 || cp === 0x1058 || cp === 0x1059
const ANUSVARA = 0x1036

/**
 * The places of a syllable's characters after its base: the vowel sign E
 * and the medial RA go before the base; an ANUSVARA written after a vowel
 * sign below goes before it (fonts expect it so); the rest stays in order.
 */
function placesAfterBase(cps: readonly number[]): number[] {
  let stage = AFTER_BASE // then BELOW once a vowel sign below is met, AFTER_BELOW after it
  return cps.map((cp) => {
    if (cp === 0x1031 || cp === 0x1084) return PRE_BASE_VOWEL // vowel sign E, Shan E
    if (cp === 0x103c) return PRE_BASE_MEDIAL // medial RA
    if (stage === AFTER_BASE && isBelowVowel(cp)) return (stage = BELOW)
    if (stage === BELOW && cp === ANUSVARA) return BEFORE_BELOW
    if (stage === BELOW && !isBelowVowel(cp)) stage = AFTER_BELOW
    return stage
  })
}

/**
 * `text` with each Myanmar syllable in the order its font expects: vowel
 * sign E, then medial RA, then the base consonant, then a kinzi, then the
 * rest (see placesAfterBase). A syllable is a letter with the marks and
 * joiners after it, and with a consonant stacked under it by a VIRAMA.
 */
export function myanmarVisualOrder(text: string): string {
  const cps = [...text].map((ch) => ch.codePointAt(0)!)
  const out: number[] = []
  for (let start = 0; start < cps.length; ) {
    let end = start + 1
    while (end < cps.length && (isMark(cps[end]!) || cps[end] === 0x200c || cps[end] === 0x200d || cps[end - 1] === VIRAMA)) end++
    out.push(...syllableInVisualOrder(cps.slice(start, end)))
    start = end
  }
  return String.fromCodePoint(...out)
}

function syllableInVisualOrder(syllable: number[]): number[] {
  const kinzi = syllable.length > 3 && KINZI.every((cp, i) => syllable[i] === cp) && !isMark(syllable[3]!)
  const base = kinzi ? 3 : 0
  if (isMark(syllable[base]!) || !isMyanmarLetter(syllable[base]!)) return syllable
  // The kinzi goes after the base, ahead of what follows it.
  const places = [...syllable.slice(0, base).map(() => AFTER_BASE), BASE, ...placesAfterBase(syllable.slice(base + 1))]
  // A variation selector stays with the character before it.
  syllable.forEach((cp, i) => {
    if (i > 0 && cp >= 0xfe00 && cp <= 0xfe0f) places[i] = places[i - 1]!
  })
  return syllable
    .map((cp, i) => ({ cp, at: places[i]!, i }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((c) => c.cp)
}
