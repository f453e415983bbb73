// `leanctl validate`: the controller's own validator, run locally; nothing is read from or written to Consul.
import { parseAppSpec } from '../../jobs/app-spec.ts'
import type { Io } from '../context.ts'
import { loadDocument } from '../documents.ts'

export async function validate(io: Io, file: string, app: string): Promise<number> {
  const doc = await loadDocument(file, () => io.readStdin())
  parseAppSpec(app, doc.json) // throws SpecError naming the field
  io.out('valid\n')
  return 0
}
