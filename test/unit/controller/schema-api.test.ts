// GET /v1/schema: the app documents' JSON Schema, as published in the
// repository, without a token.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { APP_DOCUMENT_SCHEMA_FILE } from '../../../jobs/app-document-schema.ts'
import { api } from './stubs.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

test('GET /v1/schema answers the published schema as application/schema+json, with no token', async () => {
  const app = api()
  const res = await app.inject({ method: 'GET', url: '/v1/schema' })
  assert.equal(res.statusCode, 200)
  assert.match(res.headers['content-type'] as string, /^application\/schema\+json\b/)
  assert.equal(res.body, await readFile(path.join(root, APP_DOCUMENT_SCHEMA_FILE), 'utf8'))
  const schema = res.json() as { $schema: string; $defs: Record<string, unknown> }
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  assert.deepEqual(Object.keys(schema.$defs).slice(0, 2), ['wasm-service', 'vm'])
  // Other /v1 routes still need a token.
  assert.equal((await app.inject({ method: 'GET', url: '/v1/apps' })).statusCode, 401)
})
