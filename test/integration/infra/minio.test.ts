import assert from 'node:assert/strict'
import { test } from 'node:test'
import { s3FromEnv } from '../../../workloads/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

test('objects round-trip through the S3 API, and buckets are private', async (t) => {
  const { env } = await useCloud()
  const s3 = s3FromEnv(env)
  const names = (await s3.listBuckets()).map((b) => b.name)
  assert.ok(names.includes('artifacts') && names.includes('cloud-pdfs'), `buckets: ${names.join(', ')}`)

  const key = `${uniqueName('object')}.txt`
  const body = Buffer.from('lean cloud says hi ✓')
  await s3.putObject('artifacts', key, body, body.length, { 'Content-Type': 'text/plain' })
  t.after(() => s3.removeObject('artifacts', key))

  const chunks: Buffer[] = []
  for await (const chunk of await s3.getObject('artifacts', key)) chunks.push(chunk as Buffer)
  assert.deepEqual(Buffer.concat(chunks), body)

  // Without a signature the object is refused: the bucket has no public policy.
  const anonymous = await fetch(`${env.S3_ENDPOINT}/artifacts/${key}`)
  assert.equal(anonymous.status, 403)
})
