// Every error code in the code has a line in the table of docs/error-codes.md,
// and the table names no code that does not exist.
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const roots = ['ground', 'infra', 'task-driver', 'jobs', 'controller', 'cli', 'workloads', 'demo']

async function sourceFiles(): Promise<string[]> {
  const files: string[] = []
  for (const root of roots) {
    for (const entry of await readdir(path.join(repo, root), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.ts') && !entry.parentPath.includes('node_modules')) files.push(path.join(entry.parentPath, entry.name))
    }
  }
  return files
}

test('docs/error-codes.md documents exactly the error codes the code defines', async () => {
  const codes = new Set<string>()
  for (const file of await sourceFiles()) {
    const text = await readFile(file, 'utf8')
    for (const m of text.matchAll(/'(LEAN_ERR_[A-Z_]+)'/g)) codes.add(m[1]!)
  }
  assert.ok(codes.size >= 10, `found ${codes.size} codes`)
  const table = await readFile(path.join(repo, 'docs', 'error-codes.md'), 'utf8')
  const documented = new Set([...table.matchAll(/^\| `(LEAN_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]!))
  assert.deepEqual([...codes].filter((c) => !documented.has(c)), [], 'codes missing from docs/error-codes.md')
  assert.deepEqual([...documented].filter((c) => !codes.has(c)), [], 'docs/error-codes.md codes that do not exist')
})
