// Small WebAssembly binaries built by hand for the tests of component
// inspection and upload: a core module, and components whose top-level
// imports and exports the test chooses. The components are valid: each
// import is an instance of an empty instance type, and the handler export is
// an empty instance of their own (as `(component (type (instance)) (import
// "…" (instance (type 0))) … (instance) (export "…" (instance N)))`).

const MAGIC = [0x00, 0x61, 0x73, 0x6d]
export const CORE_PREAMBLE = [...MAGIC, 0x01, 0x00, 0x00, 0x00]
export const COMPONENT_PREAMBLE = [...MAGIC, 0x0d, 0x00, 0x01, 0x00]

/** Unsigned LEB128. */
export function leb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

export function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')]
  return [...leb(bytes.length), ...bytes]
}

export function section(id: number, content: readonly number[]): number[] {
  return [id, ...leb(content.length), ...content]
}

const vec = (items: readonly number[][]) => [...leb(items.length), ...items.flat()]

/** An import or export name: plain (0x00), or with a version suffix attribute (0x02, 0x01). */
export function externName(text: string, versionSuffix?: string): number[] {
  return versionSuffix === undefined ? [0x00, ...name(text)] : [0x02, ...name(text), 1, 0x01, ...name(versionSuffix)]
}

/** A core module with no sections. */
export const coreModule = (): Buffer => Buffer.from(CORE_PREAMBLE)

export interface ComponentShape {
  /** Interfaces it imports, each an instance. */
  readonly imports?: readonly string[]
  /** Instance exports made from an empty instance; default the handler at 0.2.3. */
  readonly exports?: readonly string[]
  /** Sections put after the others (a custom section, a nested component). */
  readonly extra?: readonly number[]
}

export const HANDLER = 'wasi:http/incoming-handler@0.2.3'
export const SOME_IMPORTS = ['wasi:cli/environment@0.2.3', 'wasi:io/streams@0.2.12', 'wasi:http/types@0.2.0']

/** A component importing and exporting instances by name. */
export function component(shape: ComponentShape = {}): Buffer {
  const imports = shape.imports ?? SOME_IMPORTS
  const exports = shape.exports ?? [HANDLER]
  const emptyInstanceType = [0x42, 0x00]
  const sections = [
    ...section(7, vec([emptyInstanceType])),
    ...(imports.length > 0 ? section(10, vec(imports.map((i) => [...externName(i), 0x05, 0x00]))) : []),
    // One empty instance made from no exports; its index follows the imported ones.
    ...section(5, vec([[0x01, 0x00]])),
    ...(exports.length > 0
      ? section(11, vec(exports.map((e) => [...externName(e), 0x05, ...leb(imports.length), 0x00])))
      : []),
    ...(shape.extra ?? []),
  ]
  return Buffer.from([...COMPONENT_PREAMBLE, ...sections])
}

/** A custom section: a name, then any bytes. */
export const customSection = (title: string, payload: readonly number[]): number[] =>
  section(0, [...name(title), ...payload])
