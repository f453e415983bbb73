// The fonts the PDF service bundles, in fallback order: a character is drawn
// in the first font that has it (see FontSet.assign). All come from Debian:
// fonts-noto-core, fonts-droid-fallback, fonts-nanum and fonts-dejavu-core. component.js
// imports the same files in the same order (a unit test holds them equal).
//
// Chinese and Japanese come from Droid Sans Fallback (4 MB: the 20,902 CJK
// ideographs and kana), Korean from Nanum Gothic (4.7 MB: all 11,172 Hangul
// syllables), rather than from Noto Sans CJK: one
// face of that is 20 MB of CFF, and bundled into the component it made a
// 169 MB component (the font is JavaScript source, a string and bytes in the
// pre-initialised heap).
export interface BundledFont {
  readonly file: string
  /** The face to use, for a collection. */
  readonly face?: string
}

export const bundledFonts: readonly BundledFont[] = [
  { file: 'NotoSans-Regular.ttf' }, // Latin, Greek, Cyrillic
  { file: 'NotoSansArabic-Regular.ttf' },
  { file: 'NotoSansHebrew-Regular.ttf' },
  { file: 'NotoSansDevanagari-Regular.ttf' },
  { file: 'NotoSansThai-Regular.ttf' },
  { file: 'NotoSansBengali-Regular.ttf' },
  { file: 'NotoSansTamil-Regular.ttf' },
  { file: 'NotoSansTelugu-Regular.ttf' },
  { file: 'NotoSansGujarati-Regular.ttf' },
  { file: 'NotoSansGurmukhi-Regular.ttf' },
  { file: 'NotoSansKannada-Regular.ttf' },
  { file: 'NotoSansMalayalam-Regular.ttf' },
  { file: 'NotoSansSinhala-Regular.ttf' },
  { file: 'NotoSansKhmer-Regular.ttf' },
  { file: 'NotoSansLao-Regular.ttf' },
  { file: 'NotoSansMyanmar-Regular.ttf' },
  { file: 'NotoSansGeorgian-Regular.ttf' },
  { file: 'NotoSansArmenian-Regular.ttf' },
  { file: 'NotoSansEthiopic-Regular.ttf' },
  { file: 'DroidSansFallbackFull.ttf' }, // Chinese, Japanese
  { file: 'NanumGothic.ttf' }, // Korean
  { file: 'DejaVuSans.ttf' }, // symbols, arrows, box drawing, and what the others lack
]
