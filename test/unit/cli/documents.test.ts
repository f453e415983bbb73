import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { loadDocument, parseDocumentText } from '../../../cli/documents.ts'
import { DocumentError } from '../../../cli/errors.ts'

const sha256 = 'ab'.repeat(32)
const expected = {
  kind: 'wasm-service',
  component: { sha256 },
  count: 2,
  grants: { buckets: ['cloud-pdfs'] },
}
const noStdin = () => Promise.reject(new Error('stdin must not be read'))

function refusal(file: string, text: string): string {
  try {
    parseDocumentText(file, text)
  } catch (err) {
    assert.ok(err instanceof DocumentError)
    assert.equal(err.code, 'LEAN_ERR_CLI_DOCUMENT')
    return err.message
  }
  assert.fail('expected the document to be refused')
}

test('JSON and YAML files give the same document, stored as indented JSON', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await writeFile(path.join(dir, 'pdf.json'), JSON.stringify(expected))
  await writeFile(
    path.join(dir, 'pdf.yaml'),
    `kind: wasm-service\ncomponent:\n  sha256: ${sha256}\ncount: 2\ngrants:\n  buckets: [cloud-pdfs]\n`,
  )
  await writeFile(
    path.join(dir, 'pdf.YML'),
    `# a comment\nkind: wasm-service\ncomponent: { sha256: "${sha256}" }\ncount: 2\ngrants:\n  buckets:\n    - cloud-pdfs\n`,
  )
  for (const file of ['pdf.json', 'pdf.yaml', 'pdf.YML']) {
    const doc = await loadDocument(path.join(dir, file), noStdin)
    assert.deepEqual(doc.value, expected, file)
    assert.equal(doc.json, JSON.stringify(expected, null, 2), file)
  }
})

test('stdin is sniffed: { or [ first is JSON, anything else YAML', async () => {
  assert.deepEqual((await loadDocument('-', async () => `  ${JSON.stringify(expected)}`)).value, expected)
  assert.deepEqual((await loadDocument('-', async () => 'kind: wasm-service\ncount: 1\n')).value, {
    kind: 'wasm-service',
    count: 1,
  })
  assert.match(refusal('-', '{"kind": }'), /^stdin: not valid JSON: /)
})

test('bad YAML names the line and column and the reason', () => {
  assert.equal(
    refusal('pdf.yaml', `kind: wasm-service\ncomponent:\n  sha256: ${sha256}\n count: 3\n`),
    'pdf.yaml: not valid YAML: line 4, column 1: All mapping items must start at the same column',
  )
  assert.match(
    refusal('a.yml', 'count: 1\ncount: 2\n'),
    /^a\.yml: not valid YAML: line 2, column 1: Map keys must be unique/,
  )
  assert.match(
    refusal('a.yaml', 'a: 1\n---\nb: 2\n'),
    /^a\.yaml: not valid YAML: line 2, column 1: Source contains multiple documents/,
  )
  assert.match(refusal('a.yaml', 'a: *nowhere\n'), /^a\.yaml: not valid YAML: .*alias/i)
})

test('bad JSON names the line and column, not the offset', () => {
  assert.equal(
    refusal('pdf.json', '{\n  "kind": "wasm-service",\n}'),
    'pdf.json: not valid JSON: line 3, column 1: Expected double-quoted property name',
  )
  assert.match(refusal('pdf.json', ''), /^pdf\.json: not valid JSON: Unexpected end of JSON input/)
})

test('a missing file or an unknown extension is refused by name', async () => {
  await assert.rejects(loadDocument('/nonexistent/pdf.json', noStdin), {
    code: 'LEAN_ERR_CLI_DOCUMENT',
    message: '/nonexistent/pdf.json: cannot read (no such file)',
  })
  assert.equal(refusal('pdf.txt', '{}'), 'pdf.txt: expected a .json, .yaml or .yml file')
})
