// Lao shaping that fontkit does not do. fontkit shapes Lao with its default
// shaper, which leaves SARA AM (U+0EB3) whole: the font draws it as one
// glyph whose NIGGAHITA ring stands over the consonant, where a tone mark
// written before it goes too, and the two collide (ນ້ຳ, water). The
// OpenType model for Thai and Lao splits SARA AM into NIGGAHITA (U+0ECD) and
// SARA AA (U+0EB2) and moves the NIGGAHITA before the above-base marks
// written ahead of it, so the font stacks the tone mark on the ring.

const SARA_AM = 0x0eb3
const NIGGAHITA = '\u0ecd'
const SARA_AA = '\u0eb2'

/** Lao vowel signs and tone marks drawn above the consonant. */
const isAboveBase = (unit: number) => unit === 0x0eb1 || (unit >= 0x0eb4 && unit <= 0x0eb7) || unit === 0x0ebb || (unit >= 0x0ec7 && unit <= 0x0ece)

export const hasSaraAm = (text: string) => text.includes(String.fromCharCode(SARA_AM))

/** `text` with every SARA AM split in two, its NIGGAHITA before the above-base marks that precede it. */
export function splitSaraAm(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== SARA_AM) {
      out += text[i]
      continue
    }
    let marks = out.length
    while (marks > 0 && isAboveBase(out.charCodeAt(marks - 1))) marks--
    out = out.slice(0, marks) + NIGGAHITA + out.slice(marks) + SARA_AA
  }
  return out
}
