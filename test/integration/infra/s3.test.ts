import assert from 'node:assert/strict'
import { readFile, readdir, readlink } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { s3Client } from '../../../ground/s3-client.ts'
import { loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { runningPid } from '../../../infra/cloud/processes.ts'
import { dataBuckets, s3Agent, s3BucketCredentials } from '../../../infra/cloud/agents/s3.ts'
import { agentFiles } from '../../../infra/cloud/up.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

async function statusOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  )
}

test('objects round-trip through the S3 API, buckets are private, and links are presigned', async (t) => {
  const { env } = await useCloud()
  const s3 = s3FromEnv(env)
  const names = (await s3.listBuckets()).map((b) => b.name)
  assert.ok(['artifacts', 'cloud-pdfs', 'cloud-scratch'].every((b) => names.includes(b)), `buckets: ${names.join(', ')}`)

  const key = `${uniqueName('object')}.txt`
  const body = Buffer.from('lean cloud says hi ✓')
  await s3.putObject('artifacts', key, body, body.length, { 'Content-Type': 'text/plain' })
  t.after(() => s3.removeObject('artifacts', key))

  const chunks: Buffer[] = []
  for await (const chunk of await s3.getObject('artifacts', key)) chunks.push(chunk as Buffer)
  assert.deepEqual(Buffer.concat(chunks), body)

  // Without a signature the object is refused: no identity is anonymous.
  const anonymous = await fetch(`${env.S3_ENDPOINT}/artifacts/${key}`)
  assert.equal(anonymous.status, 403)
  // A presigned link opens it; a tampered one does not.
  const link = await s3.presignedGetObject('artifacts', key, 60)
  const viaLink = await fetch(link)
  assert.equal(viaLink.status, 200)
  assert.equal(await viaLink.text(), body.toString())
  const tampered = await fetch(link.replace(key, `${key}x`))
  assert.equal(tampered.status, 403)
})

test('each user of S3 has its own identity, limited to its buckets', async (t) => {
  const { config, env } = await useCloud()
  const creds = await loadOrCreateCredentials(config)
  const as = (accessKey: string, secretKey: string) => s3Client({ endpoint: env.S3_ENDPOINT!, accessKey, secretKey, region: 'us-east-1', caFile: env.S3_CACERT! })
  const asBucket = (bucket: string) => {
    const keys = s3BucketCredentials(creds, bucket)
    return as(keys.accessKey, keys.secretKey)
  }
  const publisher = as(creds.s3PublisherAccessKey, creds.s3PublisherSecretKey)
  const fetcher = as(creds.s3DriverAccessKey, creds.s3DriverSecretKey)
  const key = `${uniqueName('identity')}.txt`
  const body = Buffer.from('scoped')
  const buckets = dataBuckets(config)
  assert.ok(buckets.includes('cloud-pdfs') && buckets.includes('cloud-scratch'), `data buckets: ${buckets.join(', ')}`)
  t.after(async () => {
    const admin = s3FromEnv(env)
    for (const bucket of config.s3.buckets) await admin.removeObject(bucket, key).catch(() => {})
  })

  assert.equal(await statusOf(publisher.putObject('artifacts', key, body, body.length)), 'ok', 'the publisher writes artifacts')
  assert.equal(await statusOf(publisher.putObject('cloud-pdfs', key, body, body.length)), 'AccessDenied', 'but not the PDFs')
  assert.equal(await statusOf(fetcher.statObject('artifacts', key)), 'ok', 'the drivers read artifacts')
  assert.equal(await statusOf(fetcher.putObject('artifacts', key, body, body.length)), 'AccessDenied', 'but never write them')
  assert.equal(await statusOf(fetcher.putObject('cloud-pdfs', key, body, body.length)), 'AccessDenied', 'nor touch a data bucket')
  for (const bucket of buckets) {
    const own = asBucket(bucket)
    assert.equal(await statusOf(own.putObject(bucket, key, body, body.length)), 'ok', `${bucket}'s identity writes ${bucket}`)
    assert.equal(await statusOf(own.statObject(bucket, key)), 'ok', `and reads it back`)
    for (const elsewhere of config.s3.buckets.filter((b) => b !== bucket)) {
      assert.equal(await statusOf(own.putObject(elsewhere, key, body, body.length)), 'AccessDenied', `${bucket}'s identity may not write ${elsewhere}`)
      assert.equal(await statusOf(own.statObject(elsewhere, key)), 'AccessDenied', `${bucket}'s identity may not read ${elsewhere}`)
    }
  }
  assert.equal(await statusOf(asBucket('cloud-pdfs').makeBucket(uniqueName('bucket'), 'us-east-1')), 'AccessDenied', 'only the admin makes buckets')
  const wrong = as(s3BucketCredentials(creds, 'cloud-pdfs').accessKey, 'not-the-secret')
  assert.equal(await statusOf(wrong.putObject('cloud-pdfs', key, body, body.length)), 'SignatureDoesNotMatch', 'a wrong secret is refused')
})

/** TCP ports a process listens on, from /proc (its sockets' inodes matched against /proc/net/tcp). */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(path.join(`/proc/${pid}/fd`, fd)).catch(() => '')
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match) inodes.add(match[1]!)
  }
  const ports = new Set<number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)
    for (const line of lines) {
      const cols = line.trim().split(/\s+/)
      // st 0A is LISTEN; column 9 is the inode.
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(':')[1]!, 16))
    }
  }
  return [...ports].sort((a, b) => a - b)
}

test('the S3 server listens on its configured ports only', async () => {
  const { config } = await useCloud()
  const pid = await runningPid(agentFiles(config, s3Agent).pidFile)
  assert.ok(pid, 'the S3 server runs')
  const expected = s3Agent.ports(config).sort((a, b) => a - b)
  const actual = await listeningPorts(pid)
  assert.deepEqual(actual.filter((p) => !expected.includes(p)), [], `stray listeners: configured ${expected.join(', ')}, listening ${actual.join(', ')}`)
})
