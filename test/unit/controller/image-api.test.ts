// The image endpoints on an in-memory bucket: uploads by digest, refused
// with nothing stored on a wrong digest, a bad manifest or a missing file.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { ImageStore } from '../../../controller/image-store.ts'
import { kernelImage } from '../../harness/image-fixtures.ts'
import { api, MemoryObjects } from './stubs.ts'

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
const kernel = Buffer.from('kernel bytes')
const initrd = Buffer.from('initrd bytes')
const image = kernelImage('tiny', kernel, initrd, {
  guest: { minMemoryMiB: 128, readyLine: 'READY', httpPort: 8080 },
  packages: [{ name: 'busybox-static', version: '1' }],
})
// Uploads carry the caller's token (the in-memory KV lets any token write).
const writer = { 'x-consul-token': 'operator' }
const raw = { 'content-type': 'application/octet-stream', ...writer }

test('without S3 settings every image endpoint answers 503 saying what is missing', async () => {
  const app = api()
  for (const [method, url] of [
    ['GET', '/v1/images'],
    ['PUT', `/v1/images/files/${sha(kernel)}.vmlinuz`],
    ['PUT', `/v1/images/${image.sha256}`],
  ] as const) {
    const res = await app.inject({ method, url, headers: raw, ...(method === 'PUT' && { payload: kernel }) })
    assert.equal(res.statusCode, 503, `${method} ${url}`)
    assert.equal(res.json().code, 'LEAN_ERR_IMAGES_UNAVAILABLE')
    assert.match(res.json().message, /S3_ENDPOINT, S3_PUBLISHER_ACCESS_KEY and S3_PUBLISHER_SECRET_KEY/)
  }
})

test('a file is stored under its digest only when the body has it; a wrong body stores nothing', async () => {
  const objects = new MemoryObjects()
  const app = api({ images: new ImageStore(objects) })
  const url = `/v1/images/files/${sha(kernel)}.vmlinuz`
  const wrong = await app.inject({ method: 'PUT', url, payload: Buffer.from('something else'), headers: raw })
  assert.equal(wrong.statusCode, 400)
  assert.equal(wrong.json().code, 'LEAN_ERR_IMAGE_DIGEST')
  assert.match(wrong.json().message, new RegExp(`not ${sha(kernel)}; nothing was stored`))
  assert.equal(objects.objects.size, 0)
  assert.equal((await app.inject({ method: 'HEAD', url, headers: writer })).statusCode, 404)

  const ok = await app.inject({ method: 'PUT', url, payload: kernel, headers: writer })
  assert.equal(ok.statusCode, 201)
  assert.deepEqual(ok.json(), {
    key: `images/${sha(kernel)}.vmlinuz`,
    sha256: sha(kernel),
    size: kernel.length,
    uploaded: true,
  })
  assert.deepEqual(objects.objects.get(`images/${sha(kernel)}.vmlinuz`)?.bytes, kernel)
  assert.equal((await app.inject({ method: 'HEAD', url, headers: writer })).statusCode, 200)
  const again = await app.inject({ method: 'PUT', url, payload: kernel, headers: raw })
  assert.deepEqual([again.statusCode, again.json().uploaded], [200, false])

  for (const bad of ['nope.vmlinuz', `${sha(kernel)}.iso`, `${sha(kernel)}.json`]) {
    const res = await app.inject({
      method: 'PUT',
      url: `/v1/images/files/${bad}`,
      payload: kernel,
      headers: raw,
    })
    assert.deepEqual([res.statusCode, res.json().code], [400, 'LEAN_ERR_API_REQUEST'], bad)
  }
})

test('a manifest is stored only with its digest, a valid schema and every file it names already stored', async () => {
  const objects = new MemoryObjects()
  const app = api({ images: new ImageStore(objects) })
  const put = (digest: string, body: string) =>
    app.inject({
      method: 'PUT',
      url: `/v1/images/${digest}`,
      payload: body,
      headers: { 'content-type': 'application/json', ...writer },
    })

  const wrongDigest = await put('cd'.repeat(32), image.text)
  assert.deepEqual([wrongDigest.statusCode, wrongDigest.json().code], [400, 'LEAN_ERR_IMAGE_DIGEST'])
  const badSchema = '{"schema":"something/v9"}\n'
  const invalid = await put(sha(badSchema), badSchema)
  assert.deepEqual([invalid.statusCode, invalid.json().code], [400, 'LEAN_ERR_IMAGE_MANIFEST'])
  assert.match(invalid.json().message, /invalid image manifest: schema must be 'lean-cloud.image\/v1'/)

  await app.inject({
    method: 'PUT',
    url: `/v1/images/files/${sha(kernel)}.vmlinuz`,
    payload: kernel,
    headers: raw,
  })
  const missing = await put(image.sha256, image.text)
  assert.equal(missing.statusCode, 400)
  assert.equal(missing.json().code, 'LEAN_ERR_IMAGE_FILE_MISSING')
  assert.match(missing.json().message, new RegExp(`not uploaded yet: images/${sha(initrd)}\\.cpio\\.gz \\(`))
  assert.equal(objects.objects.has(image.key), false)

  await app.inject({
    method: 'PUT',
    url: `/v1/images/files/${sha(initrd)}.cpio.gz`,
    payload: initrd,
    headers: raw,
  })
  const stored = await put(image.sha256, image.text)
  assert.equal(stored.statusCode, 201)
  assert.equal(objects.objects.get(image.key)?.bytes.toString(), image.text)
  assert.equal((await put(image.sha256, image.text)).statusCode, 200)

  const list = await app.inject({ method: 'GET', url: '/v1/images', headers: writer })
  assert.deepEqual(list.json(), {
    images: [
      {
        sha256: image.sha256,
        name: 'tiny',
        boot: 'kernel',
        size: kernel.length + initrd.length,
        files: [
          { key: `images/${sha(kernel)}.vmlinuz`, sha256: sha(kernel), size: kernel.length, present: true },
          { key: `images/${sha(initrd)}.cpio.gz`, sha256: sha(initrd), size: initrd.length, present: true },
        ],
      },
    ],
  })
})

test('the listing shows a manifest it cannot read with the reason', async () => {
  const objects = new MemoryObjects()
  const text = '{"not":"a manifest"}\n'
  await objects.putBytes(`images/${sha(text)}.json`, Buffer.from(text), {})
  await objects.putBytes(`images/${'ee'.repeat(32)}.json`, Buffer.from(text), {})
  const { images } = (
    await api({ images: new ImageStore(objects) }).inject({
      method: 'GET',
      url: '/v1/images',
      headers: writer,
    })
  ).json()
  assert.equal(images.length, 2)
  assert.match(
    images.find((i: { sha256: string }) => i.sha256 === sha(text)).error,
    /^invalid image manifest: schema/,
  )
  assert.match(
    images.find((i: { sha256: string }) => i.sha256 === 'ee'.repeat(32)).error,
    /does not match its digest/,
  )
})

test("uploads without the caller's token are refused (401) before anything is stored", async () => {
  const objects = new MemoryObjects()
  const app = api({ images: new ImageStore(objects) })
  const url = `/v1/images/files/${sha(kernel)}.vmlinuz`
  const res = await app.inject({
    method: 'PUT',
    url,
    payload: kernel,
    headers: { 'content-type': 'application/octet-stream' },
  })
  assert.equal(res.statusCode, 401)
  assert.equal(res.json().code, 'LEAN_ERR_TOKEN_REQUIRED')
  assert.equal(objects.objects.size, 0)
})
