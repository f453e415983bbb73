// What a .wasm file is, read from its bytes alone: a core module or a
// component, and for a component the names of its top-level imports and
// exports. Decoded from the component model's binary format
// (WebAssembly/component-model design/mvp/Binary.md): only the import (10) and
// export (11) sections are read; every other section is skipped by its size,
// so nested components and core modules are never entered. This names what a
// component asks for; whether its types link is the engine's check when it
// compiles and instantiates it.

export type ComponentInspectCode =
  | 'LEAN_ERR_COMPONENT_MALFORMED'
  | 'LEAN_ERR_COMPONENT_CORE_MODULE'
  | 'LEAN_ERR_COMPONENT_UNSUPPORTED'

/** Why bytes are not a component the engine can run; one line per problem. */
export class ComponentInspectError extends Error {
  constructor(
    readonly code: ComponentInspectCode,
    readonly problems: readonly string[],
  ) {
    super(problems.join('\n'))
    this.name = 'ComponentInspectError'
  }
}

/** What an import or export is, by its extern kind or sort. */
export type ExternKind = 'core-module' | 'func' | 'value' | 'type' | 'component' | 'instance'

export interface ExternItem {
  /** The full name: with a version suffix attribute (🔗) appended, as the source's WIT wrote it. */
  readonly name: string
  readonly kind: ExternKind
}

export type WasmInspection =
  | { readonly kind: 'core-module' }
  | { readonly kind: 'component'; readonly imports: readonly ExternItem[]; readonly exports: readonly ExternItem[] }

export const CORE_MODULE_PROBLEM =
  'a core module, not a component (build for wasm32-wasip2 or run `wasm-tools component new`)'

const MAGIC = [0x00, 0x61, 0x73, 0x6d] // \0asm
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] // version 1, layer 0
const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] // version 0x0d, layer 1
const IMPORT_SECTION = 10
const EXPORT_SECTION = 11
const LAST_SECTION_ID = 12

const malformed = (problem: string) => new ComponentInspectError('LEAN_ERR_COMPONENT_MALFORMED', [problem])

/** Reads the binary format's primitives from `bytes[pos, end)`; every overrun is a malformed file. */
class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end
  }

  byte(): number {
    if (this.pos >= this.end) throw malformed(`truncated at byte ${this.pos}`)
    return this.bytes[this.pos++]!
  }

  /** Unsigned LEB128, at most 5 bytes and 32 bits. */
  u32(): number {
    const at = this.pos
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) {
        if (result > 0xffff_ffff) break
        return result
      }
    }
    throw malformed(`bad u32 at byte ${at}`)
  }

  /** Signed LEB128 of at most 33 bits (value types: negative for primitives, else a type index). */
  s33(): number {
    const at = this.pos
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return b & 0x40 ? result - 2 ** (shift + 7) : result
    }
    throw malformed(`bad s33 at byte ${at}`)
  }

  /** A name: its byte length, then that many bytes of UTF-8. */
  name(): string {
    const length = this.u32()
    const at = this.pos
    if (length > this.end - at) throw malformed(`a name at byte ${at} runs past its section`)
    this.pos += length
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(at, at + length))
    } catch {
      throw malformed(`a name at byte ${at} is not UTF-8`)
    }
  }

  /** A reader over the next `length` bytes, which this one skips. */
  take(length: number, what: string): Reader {
    if (length > this.end - this.pos) throw malformed(`${what} at byte ${this.pos} runs past the end of the file`)
    const sub = new Reader(this.bytes, this.pos, this.pos + length)
    this.pos += length
    return sub
  }
}

const startsWith = (bytes: Uint8Array, at: number, expected: readonly number[]) =>
  expected.every((b, i) => bytes[at + i] === b)

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')

/**
 * The name of an import or export. 0x00 and 0x01 are the plain name; 0x02
 * carries attributes after it: implements (0x00), version suffix (0x01),
 * external id (0x02), each one name long.
 */
function externName(r: Reader): string {
  const at = r.pos
  const tag = r.byte()
  if (tag === 0x00 || tag === 0x01) return r.name()
  if (tag !== 0x02) throw malformed(`unknown name encoding 0x${tag.toString(16)} at byte ${at}`)
  const name = r.name()
  let suffix = ''
  for (let n = r.u32(); n > 0; n--) {
    const attrAt = r.pos
    const attribute = r.byte()
    if (attribute > 0x02) throw malformed(`unknown name attribute 0x${attribute.toString(16)} at byte ${attrAt}`)
    const value = r.name()
    if (attribute === 0x01) suffix = value
  }
  return name + suffix
}

/** An extern type (externdesc): the kind is all we keep; its type indices and bounds are skipped. */
function externType(r: Reader): ExternKind {
  const at = r.pos
  const tag = r.byte()
  switch (tag) {
    case 0x00: {
      const sort = r.byte()
      if (sort !== 0x11) throw malformed(`a core extern type at byte ${at} is not a module (0x${sort.toString(16)})`)
      r.u32()
      return 'core-module'
    }
    case 0x01:
      r.u32()
      return 'func'
    case 0x02: {
      // valuebound: (eq valueidx) or a value type
      const bound = r.byte()
      if (bound === 0x00) r.u32()
      else if (bound === 0x01) r.s33()
      else throw malformed(`unknown value bound 0x${bound.toString(16)} at byte ${at + 1}`)
      return 'value'
    }
    case 0x03: {
      // typebound: (eq typeidx) or (sub resource)
      const bound = r.byte()
      if (bound === 0x00) r.u32()
      else if (bound !== 0x01) throw malformed(`unknown type bound 0x${bound.toString(16)} at byte ${at + 1}`)
      return 'type'
    }
    case 0x04:
      r.u32()
      return 'component'
    case 0x05:
      r.u32()
      return 'instance'
    default:
      throw malformed(`unknown extern type 0x${tag.toString(16)} at byte ${at}`)
  }
}

/** An export's sort: core sorts (0x00 and a core sort byte) then func, value, type, component, instance. */
function sort(r: Reader): ExternKind {
  const at = r.pos
  const kinds: Record<number, ExternKind> = { 0x01: 'func', 0x02: 'value', 0x03: 'type', 0x04: 'component', 0x05: 'instance' }
  const s = r.byte()
  if (s === 0x00) {
    // Of the core sorts, only modules may be exported.
    if (r.byte() !== 0x11) throw malformed(`a core export at byte ${at} is not a module`)
    return 'core-module'
  }
  const kind = kinds[s]
  if (!kind) throw malformed(`unknown sort 0x${s.toString(16)} at byte ${at}`)
  return kind
}

function imports(r: Reader): ExternItem[] {
  const out: ExternItem[] = []
  for (let n = r.u32(); n > 0; n--) {
    const name = externName(r)
    out.push({ name, kind: externType(r) })
  }
  return out
}

function exports(r: Reader): ExternItem[] {
  const out: ExternItem[] = []
  for (let n = r.u32(); n > 0; n--) {
    const name = externName(r)
    const kind = sort(r)
    r.u32() // the index of what is exported
    const hasType = r.byte()
    if (hasType === 0x01) externType(r)
    else if (hasType !== 0x00) throw malformed(`bad optional extern type flag 0x${hasType.toString(16)} at byte ${r.pos - 1}`)
    out.push({ name, kind })
  }
  return out
}

/** A core module or a component (with its top-level imports and exports); throws ComponentInspectError (MALFORMED). */
export function inspectWasm(bytes: Uint8Array): WasmInspection {
  if (bytes.length < 8 || !startsWith(bytes, 0, MAGIC))
    throw malformed('not a WebAssembly binary (it does not start with \\0asm)')
  if (startsWith(bytes, 4, CORE_VERSION)) return { kind: 'core-module' }
  if (!startsWith(bytes, 4, COMPONENT_VERSION))
    throw malformed(
      `unknown WebAssembly version and layer ${hex(bytes.subarray(4, 8))} (a core module has 01 00 00 00, a component 0d 00 01 00)`,
    )
  const top = new Reader(bytes, 8, bytes.length)
  const found: { imports: ExternItem[]; exports: ExternItem[] } = { imports: [], exports: [] }
  while (!top.done) {
    const at = top.pos
    const id = top.byte()
    if (id > LAST_SECTION_ID) throw malformed(`unknown section id ${id} at byte ${at}`)
    const section = top.take(top.u32(), `section ${id}`)
    if (id !== IMPORT_SECTION && id !== EXPORT_SECTION) continue
    if (id === IMPORT_SECTION) found.imports.push(...imports(section))
    else found.exports.push(...exports(section))
    if (!section.done) throw malformed(`section ${id} at byte ${at} has ${section.end - section.pos} bytes left over`)
  }
  return { kind: 'component', ...found }
}
