// `npm run gen:schema`: writes the app documents' JSON Schema, generated from
// the validator's field table (jobs/app-document-schema.ts), to
// generated/schema/. A unit test fails while the checked-in file differs.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { APP_DOCUMENT_SCHEMA_FILE, appDocumentSchemaText } from '../../jobs/app-document-schema.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const file = path.join(root, APP_DOCUMENT_SCHEMA_FILE)
await writeFile(file, appDocumentSchemaText())
process.stdout.write(`wrote ${APP_DOCUMENT_SCHEMA_FILE}\n`)
