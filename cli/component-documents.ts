// `component: { file: "./x.wasm" }` in a wasm-service document is leanctl's
// alone: apply and validate read that file (relative to the document, or to
// the working directory for stdin), check it, and put its sha256 in place of
// `file`. Stored documents, and the validator in jobs/, only ever know
// `sha256`; apply uploads the file before it writes the document.
import path from 'node:path'
import { SpecError } from '../jobs/app-spec.ts'
import { readComponentFile, type ComponentFile } from './component-file.ts'
import type { LoadedDocument } from './documents.ts'

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The file `component.file` names, resolved against the document's directory; undefined when there is none. */
export function componentFileIn(value: unknown, documentFile: string): string | undefined {
  if (!isObject(value) || !isObject(value.component) || !('file' in value.component)) return undefined
  const { file, ...rest } = value.component
  if (typeof file !== 'string' || !file.endsWith('.wasm'))
    throw new SpecError('component.file', `expected the path of a .wasm file, got ${JSON.stringify(file)?.slice(0, 80)}`)
  if ('sha256' in rest) throw new SpecError('component.file', 'give file or sha256, not both (leanctl puts the file\'s sha256 in place of file)')
  if ('source' in rest)
    throw new SpecError('component.file', 'the file is uploaded to s3://artifacts/components/<sha256>.wasm, the default source: leave component.source out')
  return documentFile === '-' || path.isAbsolute(file) ? file : path.join(path.dirname(documentFile), file)
}

/** The document with `component.file` replaced by the component's `sha256`. */
export function withComponentDigest(value: Json, sha256: string): Json {
  const component: Json = { ...(value.component as Json), sha256 }
  delete component.file
  return { ...value, component }
}

/**
 * When the document names a component file: reads and checks it
 * (ComponentFileError before anything is sent) and returns the document with
 * its sha256, and the file to upload. Otherwise the document as it is.
 */
export async function resolveComponentFile(
  doc: LoadedDocument,
  documentFile: string,
): Promise<{ readonly doc: LoadedDocument; readonly component?: ComponentFile }> {
  const file = componentFileIn(doc.value, documentFile)
  if (file === undefined) return { doc }
  const component = await readComponentFile(file)
  const value = withComponentDigest(doc.value as Json, component.sha256)
  return { doc: { value, json: JSON.stringify(value, null, 2) }, component }
}
