// Reads an app document from a file or stdin, as JSON or YAML, and turns it
// into the JSON text that is validated and stored. Syntax errors name the
// line and column.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseDocument } from 'yaml'
import { DocumentError } from './errors.ts'

export type Format = 'json' | 'yaml'

/** Extensions apply/validate accept; `-` (stdin) has none. */
export const DOCUMENT_EXTENSIONS: Readonly<Record<string, Format>> = {
  '.json': 'json',
  '.yaml': 'yaml',
  '.yml': 'yaml',
}

export interface LoadedDocument {
  /** The document as parsed. */
  readonly value: unknown
  /** What gets validated and stored: the same document as JSON, two-space indented. */
  readonly json: string
}

/** By extension; stdin has none, so its first character decides: `{` or `[` is JSON, anything else YAML. */
export function formatOf(file: string, text: string): Format {
  if (file === '-') return /^\s*[{[]/.test(text) ? 'json' : 'yaml'
  const format = DOCUMENT_EXTENSIONS[path.extname(file).toLowerCase()]
  if (!format) throw new DocumentError(`${file}: expected a .json, .yaml or .yml file`)
  return format
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n')
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    const message = (err as Error).message
    // V8 names the offset ("... in JSON at position 42"); operators count lines.
    const at = /^(.*) in JSON at position (\d+)/.exec(message)
    const detail = at ? `${lineAndColumn(text, Number(at[2]))}: ${at[1]}` : message
    throw new DocumentError(`${source}: not valid JSON: ${detail}`)
  }
}

function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text)
  const [first] = doc.errors
  if (first) {
    // The library's message ends with " at line L, column C:" and a source excerpt; keep the reason.
    const reason = first.message.split(' at line ')[0]
    const pos = first.linePos?.[0]
    throw new DocumentError(
      `${source}: not valid YAML: ${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${reason}`,
    )
  }
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new DocumentError(`${source}: not valid YAML: ${(err as Error).message}`) // e.g. an alias without its anchor
  }
}

/** Parses `text` read from `file` (`-` for stdin). Throws DocumentError. */
export function parseDocumentText(file: string, text: string): LoadedDocument {
  const source = file === '-' ? 'stdin' : file
  const value = formatOf(file, text) === 'json' ? parseJson(text, source) : parseYaml(text, source)
  return { value, json: JSON.stringify(value ?? null, null, 2) }
}

/** Reads and parses `file`, or stdin when it is `-`. Throws DocumentError. */
export async function loadDocument(file: string, readStdin: () => Promise<string>): Promise<LoadedDocument> {
  let text: string
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new DocumentError(
      `${file === '-' ? 'stdin' : file}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)})`,
    )
  }
  return parseDocumentText(file, text)
}
