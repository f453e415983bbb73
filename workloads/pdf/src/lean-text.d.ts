// Types of the wasm host's lean:text/fonts import as componentize-js binds
// it (task-driver/engine/wit/text/fonts.wit): records as objects with
// camelCase fields, list<u16>/list<u8> as typed arrays, an error result thrown.
declare module 'lean:text/fonts@0.1.0' {
  export interface HostFontInfo {
    file: string
    postscriptName: string
    unitsPerEm: number
    ascent: number
    descent: number
    capHeight: number
    italicAngle: number
    bbox: [number, number, number, number]
  }
  export interface HostGlyph {
    id: number
    cluster: number
    advance: number
    xAdvance: number
    yAdvance: number
    xOffset: number
    yOffset: number
  }
  export function listFonts(): HostFontInfo[]
  export function coverage(text: string): Uint32Array | number[]
  export function shape(font: number, text: string, rtl: boolean): HostGlyph[]
  export function subset(font: number, glyphs: Uint16Array): Uint8Array
}
