// Every error code in the code has a line in README's table, and the table
// names no code that does not exist.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const sources = ['infra/cloud/errors.ts', 'task-driver/errors.ts', 'jobs/errors.ts', 'jobs/app-spec.ts', 'controller/config.ts', 'controller/nomad-api.ts']

test('README documents exactly the error codes the code defines', async () => {
  const codes = new Set<string>()
  for (const file of sources) {
    const text = await readFile(path.join(repo, file), 'utf8')
    // The code union types list each code once as a string literal.
    for (const m of text.matchAll(/(?:\||=)\s*'(LEAN_ERR_[A-Z_]+)'/g)) codes.add(m[1]!)
  }
  assert.ok(codes.size >= 10, `found ${codes.size} codes`)
  const readme = await readFile(path.join(repo, 'README.md'), 'utf8')
  const documented = new Set([...readme.matchAll(/^\| `(LEAN_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]!))
  assert.deepEqual([...codes].filter((c) => !documented.has(c)), [], 'codes missing from README')
  assert.deepEqual([...documented].filter((c) => !codes.has(c)), [], 'README codes that do not exist')
})
