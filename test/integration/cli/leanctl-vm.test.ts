// `leanctl vm` and `leanctl image` as operators run them (child processes),
// against a controller service on the tests' real Consul, Nomad and S3: a
// vm applied from YAML, shown, stopped, listed and deleted; an image's files
// streamed up by digest, then its manifest, and listed. The vm is placed in a
// datacenter no node is in, so nothing boots.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { startControllerService } from '../../../controller/service.ts'
import { sha256Bytes } from '../../../ground/digest.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { isolatedControllerConfig } from '../../harness/controller-config.ts'
import { kernelImage } from '../../harness/image-fixtures.ts'
import { uniqueName } from '../../harness/names.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

test('leanctl vm and image commands through the controller', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  const service = await startControllerService(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const admin = s3FromEnv(env)
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-vm-'))
  const vm = uniqueName('vm')
  const keys: string[] = []
  t.after(async () => {
    await service.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace).deregister(vm).catch(() => {})
    for (const key of keys) await admin.removeObject('artifacts', key).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  // The controller's address and the operator's token (changes are written with it): no other Consul settings.
  const leanctl = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'cli/leanctl.ts', ...args],
      {
        cwd: repo,
        env: { PATH: process.env.PATH, LEAN_CONTROLLER_ADDR: service.url.replace(/^http:\/\//, ''), CONSUL_HTTP_TOKEN: env.CONSUL_HTTP_TOKEN },
      },
    )
    return stdout
  }

  const file = path.join(dir, `${vm}.yaml`)
  await writeFile(
    file,
    `image: { sha256: ${'5e'.repeat(32)} }\nmemory: 128MiB\nports: { http: 8080 }\ndatacenters: [nowhere]\n`,
  )
  // Without the operator's token the change is refused, naming the variable, and nothing is written.
  const anonymous = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/leanctl.ts', 'vm', 'apply', file], {
    cwd: repo,
    env: { PATH: process.env.PATH, LEAN_CONTROLLER_ADDR: service.url.replace(/^http:\/\//, '') },
  }).then(
    () => assert.fail('vm apply without a token succeeded'),
    (err: { code: number; stderr: string }) => err,
  )
  assert.equal(anonymous.code, 1)
  assert.match(anonymous.stderr, /needs a Consul token: set CONSUL_HTTP_TOKEN/)
  assert.equal(await kv.get(`${config.appsPrefix}${vm}`), undefined)
  assert.match(await leanctl('vm', 'apply', file), new RegExp(`^vm/${vm} created \\(specIndex \\d+\\)\\n$`))
  assert.match(await leanctl('vm', 'get', vm), new RegExp(`^vm/${vm} {2}state running {2}phase \\w+`))
  assert.equal(await leanctl('vm', 'stop', vm), `vm/${vm} stopped (state stopped)\n`)
  assert.match(
    await leanctl('vm', 'list'),
    new RegExp(`\\n${vm}\\s+stopped\\s+\\w+\\s+0/\\S+\\s+1\\s+128MiB\\s+5e5e5e5e5e5e\\n$`),
  )
  assert.equal(JSON.parse((await kv.get(`${config.appsPrefix}${vm}`))!.value).state, 'stopped')
  assert.equal(await leanctl('vm', 'delete', vm), `vm/${vm} deleted (the controller stops its VMs)\n`)
  assert.equal(await kv.get(`${config.appsPrefix}${vm}`), undefined)

  // An image made here (random files, so a new digest every run), laid out as build:images' store.
  const kernel = randomBytes(256 * 1024)
  const initrd = randomBytes(4096)
  const image = kernelImage(uniqueName('leanctl-test'), kernel, initrd)
  keys.push(image.key, `images/${sha256Bytes(kernel)}.vmlinuz`, `images/${sha256Bytes(initrd)}.cpio.gz`)
  await writeFile(path.join(dir, `${sha256Bytes(kernel)}.vmlinuz`), kernel)
  await writeFile(path.join(dir, `${sha256Bytes(initrd)}.cpio.gz`), initrd)
  await writeFile(path.join(dir, `${image.sha256}.json`), image.text)
  const uploaded = await leanctl('image', 'upload', path.join(dir, `${image.sha256}.json`))
  assert.equal(
    uploaded,
    `images/${sha256Bytes(kernel)}.vmlinuz uploaded (256.0 KiB)\nimages/${sha256Bytes(initrd)}.cpio.gz uploaded (4.0 KiB)\nimage/${image.manifest.name} ${image.sha256} uploaded\n`,
  )
  const stored = await admin.statObject('artifacts', `images/${sha256Bytes(kernel)}.vmlinuz`)
  assert.equal(stored.size, kernel.length)
  assert.match(await leanctl('image', 'upload', path.join(dir, `${image.sha256}.json`)), /already stored\n$/)
  assert.match(
    await leanctl('image', 'list'),
    new RegExp(`\\n${image.sha256}\\s+${image.manifest.name}\\s+kernel\\s+260\\.0 KiB\\s+2 files\\n`),
  )
})
