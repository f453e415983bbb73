// The VM API on a running controller service, against the tests' real Consul,
// Nomad and S3, for everything that needs no running VM: check-and-set
// create/replace/412, 400 naming the field, 409 for an app of another kind,
// start/stop flipping `state` in KV (and the rendered job's count), delete,
// and image uploads to the real S3 server, refused with nothing stored on a
// wrong digest or a manifest whose files are missing. The VMs are placed in a
// datacenter no node is in, so nothing boots.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { startControllerService } from '../../../controller/service.ts'
import { sha256Bytes } from '../../../ground/digest.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { isolatedControllerConfig } from '../../harness/controller-config.ts'
import { HOST_FILE_BACKING, kernelImage, qcow2 } from '../../harness/image-fixtures.ts'
import { uniqueName } from '../../harness/names.ts'

const sha256 = '5e'.repeat(32)
const doc = {
  image: { sha256 },
  ports: { http: 8080 },
  service: { port: 'http', checkPath: '/' },
  datacenters: ['nowhere'],
}

test('the VM API writes vm documents through Consul KV with check-and-set, and uploads images by digest', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  assert.ok(config.s3, 'the cloud env names S3 and the publisher keys')
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const nomad = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
  const web = uniqueName('vm')
  const pdf = uniqueName('app')
  const service = await startControllerService(config, pino({ level: 'warn' }))
  const admin = s3FromEnv(env)
  const uploaded: string[] = []
  t.after(async () => {
    await service.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    for (const job of [web, pdf]) await nomad.deregister(job).catch(() => {})
    for (const key of uploaded) await admin.removeObject('artifacts', key).catch(() => {})
  })
  // Changes carry the operator's token: the controller writes desired state with the caller's, never its own.
  const operator = { 'x-consul-token': env.CONSUL_HTTP_TOKEN! }
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...operator, ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }
  // PUT the vm, with If-Match when given.
  const putVm = (body: unknown, ifMatch?: number | string) =>
    call('PUT', `/v1/vms/${web}`, body, ifMatch === undefined ? {} : { 'if-match': String(ifMatch) })
  const stored = async () => JSON.parse((await kv.get(`${config.appsPrefix}${web}`))!.value)
  const jobCount = (want: number) =>
    waitFor(async () => (await nomad.job(web))?.TaskGroups?.[0]?.Count === want, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `job ${web} rendered with count ${want}`,
    })

  // Changes need the caller's token: none is 401; the controller's own may not write desired state,
  // and Consul itself refuses it (403); nothing is written either way.
  const anonymous = await call('PUT', `/v1/vms/${web}`, doc, { 'x-consul-token': '' })
  assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'LEAN_ERR_TOKEN_REQUIRED'])
  const asController = await call('PUT', `/v1/vms/${web}`, doc, { 'x-consul-token': config.consulToken! })
  assert.deepEqual(
    [asController.status, asController.body.code],
    [403, 'LEAN_ERR_TOKEN_REFUSED'],
    JSON.stringify(asController.body),
  )
  assert.equal(await kv.get(`${config.appsPrefix}${web}`), undefined)

  // Create with If-Match 0 ("must not exist"), then 412 on a second create.
  const created = await putVm(doc, 0)
  assert.equal(created.status, 201, JSON.stringify(created.body))
  assert.equal(created.body.specIndex, (await kv.get(`${config.appsPrefix}${web}`))!.modifyIndex)
  assert.equal((await stored()).kind, 'vm')
  const again = await putVm(doc, 0)
  assert.deepEqual([again.status, again.body.code], [412, 'LEAN_ERR_APP_PRECONDITION'])
  await jobCount(1)

  // Replace on the index read; a stale index is 412 and writes nothing.
  const replaced = await putVm({ ...doc, vcpus: 2 }, created.body.specIndex)
  assert.equal(replaced.status, 200)
  assert.ok(replaced.body.specIndex > created.body.specIndex)
  const stale = await putVm({ ...doc, vcpus: 1 }, created.body.specIndex)
  assert.equal(stale.status, 412)
  assert.equal((await stored()).vcpus, 2)

  // Bad documents: 400 naming the field, nothing written.
  for (const [body, field] of [
    [{ ...doc, memory: '16MiB' }, 'memory'],
    [{ ...doc, cloudInit: { sshAuthorizedKeys: ['nope'] } }, 'cloudInit.sshAuthorizedKeys[0]'],
    [{ ...doc, network: {} }, 'network'],
    // Within the validator's range, over this cloud's ceilings (LEAN_LIMIT_VM_*).
    [{ ...doc, vcpus: 64 }, 'vcpus'],
    [{ ...doc, memory: '999GiB' }, 'memory'],
    [{ ...doc, disk: { size: '60000GiB' } }, 'disk.size'],
  ] as const) {
    const res = await putVm(body)
    assert.deepEqual(
      [res.status, res.body.code, res.body.field, res.body.message],
      [400, 'LEAN_ERR_SPEC_INVALID', field, `${field}: ${res.body.reason}`],
      JSON.stringify(res.body),
    )
  }
  assert.equal((await kv.get(`${config.appsPrefix}${web}`))!.modifyIndex, replaced.body.specIndex)

  // Stop and start flip `state` in KV; the controller renders count 0 and back.
  const stop = await call('POST', `/v1/vms/${web}/stop`)
  assert.deepEqual([stop.status, stop.body.state, stop.body.changed], [200, 'stopped', true])
  assert.equal((await stored()).state, 'stopped')
  await jobCount(0)
  assert.equal((await call('POST', `/v1/vms/${web}/stop`)).body.changed, false)
  assert.equal((await call('POST', `/v1/vms/${web}/start`)).body.state, 'running')
  assert.equal((await stored()).state, 'running')
  await jobCount(1)

  // Reads: the vm with its status; only vm apps are listed.
  await kv.set(
    `${config.appsPrefix}${pdf}`,
    JSON.stringify({ kind: 'wasm-service', component: { sha256 }, count: 0 }),
  )
  const view = await waitFor(
    async () => {
      const res = await call('GET', `/v1/vms/${web}`)
      return res.body.status?.observedIndex === res.body.specIndex ? res.body : false
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'the status of the current spec' },
  )
  assert.deepEqual(view.allocations, [], 'placed in a datacenter with no nodes')
  assert.equal(view.runtimeError, undefined)
  const list = await call('GET', '/v1/vms')
  assert.deepEqual(
    list.body.vms.map((v: { name: string }) => v.name),
    [web],
  )

  // An app of another kind is left alone.
  for (const [method, path, body] of [
    ['PUT', `/v1/vms/${pdf}`, doc],
    ['POST', `/v1/vms/${pdf}/stop`],
    ['DELETE', `/v1/vms/${pdf}`],
  ] as const) {
    const res = await call(method, path, body)
    assert.deepEqual([res.status, res.body.code], [409, 'LEAN_ERR_APP_KIND'], `${method} ${path}`)
  }
  assert.equal(JSON.parse((await kv.get(`${config.appsPrefix}${pdf}`))!.value).kind, 'wasm-service')

  // Delete: gone from KV, the controller purges the job; a second delete is 404.
  const del = await fetch(`${service.url}/v1/vms/${web}`, { method: 'DELETE', headers: operator })
  assert.equal(del.status, 204)
  assert.equal(await kv.get(`${config.appsPrefix}${web}`), undefined)
  assert.equal((await call('DELETE', `/v1/vms/${web}`)).status, 404)
  await waitFor(async () => (await nomad.job(web)) === undefined, {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: `job ${web} purged`,
  })

  // Images: a file with the wrong bytes is refused and nothing is stored.
  const kernel = randomBytes(64 * 1024)
  const initrd = randomBytes(1000)
  const kernelKey = `images/${sha256Bytes(kernel)}.vmlinuz`
  const initrdKey = `images/${sha256Bytes(initrd)}.cpio.gz`
  uploaded.push(kernelKey, initrdKey)
  const put = (path: string, body: Uint8Array) =>
    fetch(`${service.url}${path}`, { method: 'PUT', body, headers: operator })
  const wrong = await put(`/v1/images/files/${sha256Bytes(kernel)}.vmlinuz`, initrd)
  assert.equal(wrong.status, 400)
  assert.equal(((await wrong.json()) as { code: string }).code, 'LEAN_ERR_IMAGE_DIGEST')
  const exists = (key: string) =>
    admin.statObject('artifacts', key).then(
      () => true,
      () => false,
    )
  assert.equal(await exists(kernelKey), false)

  // A manifest whose files are not all there is refused, naming the missing key.
  const image = kernelImage(uniqueName('vm-api-test'), kernel, initrd)
  uploaded.push(image.key)
  assert.equal((await put(`/v1/images/files/${sha256Bytes(kernel)}.vmlinuz`, kernel)).status, 201)
  assert.equal(await exists(kernelKey), true)
  const early = await put(`/v1/images/${image.sha256}`, Buffer.from(image.text))
  assert.equal(early.status, 400)
  const refusal = (await early.json()) as { code: string; message: string }
  assert.equal(refusal.code, 'LEAN_ERR_IMAGE_FILE_MISSING')
  assert.ok(refusal.message.includes(initrdKey), refusal.message)
  assert.equal(await exists(image.key), false)
  const tampered = await put(
    `/v1/images/${image.sha256}`,
    Buffer.from(image.text.replace('ttyS0"', 'ttyS0" ')),
  )
  assert.equal(((await tampered.json()) as { code: string }).code, 'LEAN_ERR_IMAGE_DIGEST')

  // With every file there, the manifest is stored and listed.
  assert.equal((await put(`/v1/images/files/${sha256Bytes(initrd)}.cpio.gz`, initrd)).status, 201)
  assert.equal((await put(`/v1/images/${image.sha256}`, Buffer.from(image.text))).status, 201)
  assert.equal(await exists(image.key), true)
  assert.equal(
    (await put(`/v1/images/${image.sha256}`, Buffer.from(image.text))).status,
    200,
    'already there',
  )
  const images = (await call('GET', '/v1/images')).body.images as Array<{
    sha256: string
    name: string
    boot: string
    size: number
  }>
  const listed = images.find((i) => i.sha256 === image.sha256)
  assert.deepEqual(listed && { name: listed.name, boot: listed.boot, size: listed.size }, {
    name: image.manifest.name,
    boot: 'kernel',
    size: kernel.length + initrd.length,
  })
})

test('a qcow2 that names a host file as its backing file is refused at upload, naming the reason, and the real S3 holds nothing', async (t) => {
  const { env } = await useCloud()
  const config = await isolatedControllerConfig(env, uniqueName('lean-test'))
  const service = await startControllerService(config, pino({ level: 'warn' }))
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-hostile-qcow2-'))
  t.after(async () => {
    await service.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const bytes = await qcow2(dir, 'hostile.qcow2', '1M', ...HOST_FILE_BACKING)
  const name = `${sha256Bytes(bytes)}.qcow2`
  const res = await fetch(`${service.url}/v1/images/files/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'x-consul-token': env.CONSUL_HTTP_TOKEN! },
    body: bytes,
  })
  const body = (await res.json()) as { code: string; message: string }
  assert.equal(res.status, 400)
  assert.equal(body.code, 'LEAN_ERR_IMAGE_REFUSED')
  assert.equal(
    body.message,
    `${name} is refused: it names a backing file; an uploaded image must stand alone; nothing was stored`,
  )
  const head = await fetch(`${service.url}/v1/images/files/${name}`, {
    method: 'HEAD',
    headers: { 'x-consul-token': env.CONSUL_HTTP_TOKEN! },
  })
  assert.equal(head.status, 404)
  await assert.rejects(
    s3FromEnv(env).statObject('artifacts', `images/${name}`),
    /Not Found|NotFound|NoSuchKey/,
  )
})
