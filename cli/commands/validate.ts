// `leanctl validate`: the controller's own validator, run locally; nothing is read from or written to Consul.
// A `component.file` is read and checked here too, and validated as its sha256; nothing is uploaded.
import { parseAppSpec } from '../../jobs/app-spec.ts'
import { resolveComponentFile } from '../component-documents.ts'
import type { Io } from '../context.ts'
import { loadDocument } from '../documents.ts'

export async function validate(io: Io, file: string, app: string): Promise<number> {
  const { doc } = await resolveComponentFile(await loadDocument(file, () => io.readStdin()), file)
  parseAppSpec(app, doc.json) // throws SpecError naming the field
  io.out('valid\n')
  return 0
}
