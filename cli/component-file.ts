// A component file on the operator's disk, read and checked before anything
// is sent: its sha256, and the inspection the controller will run on the
// upload (a component exporting wasi:http/incoming-handler, importing only
// what the engine provides), so a refusal names its reasons without a
// round trip.
import { readFile } from 'node:fs/promises'
import { checkServiceComponent } from '../ground/component-check.ts'
import { ComponentInspectError } from '../ground/component-inspect.ts'
import { sha256Bytes } from '../ground/digest.ts'
import { ComponentFileError } from './errors.ts'

export interface ComponentFile {
  readonly file: string
  readonly bytes: Buffer
  readonly sha256: string
}

/** Reads and inspects `file`; ComponentFileError names the file and each problem, one per line. */
export async function readComponentFile(file: string): Promise<ComponentFile> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ComponentFileError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)})`)
  }
  try {
    checkServiceComponent(bytes)
  } catch (err) {
    if (!(err instanceof ComponentInspectError)) throw err
    throw new ComponentFileError(`${file} is refused (${err.code}):\n${err.problems.map((p) => `  ${p}`).join('\n')}`)
  }
  return { file, bytes, sha256: sha256Bytes(bytes) }
}
