// `leanctl vm` and `leanctl image` through run(), against the controller's
// real HTTP API built on in-memory backends (requests are injected, no socket).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { Fetch } from '../../../cli/controller-client.ts'
import { run } from '../../../cli/run.ts'
import { formatBytes } from '../../../cli/vm-format.ts'
import { ImageStore } from '../../../controller/image-store.ts'
import { diskImage, qcow2 } from '../../harness/image-fixtures.ts'
import { api, APPS, MemoryKv, MemoryObjects, quietNomad } from '../controller/stubs.ts'
import { injected } from './injected-fetch.ts'

const sha256 = 'ab'.repeat(32)
const env = {
  LEAN_APPS_PREFIX: APPS,
  LEAN_STATUS_PREFIX: 't/status/',
  LEAN_CONTROLLER_ADDR: '127.0.0.1:4999',
  CONSUL_HTTP_TOKEN: 'operator-token',
}

async function leanctl(fetchFn: Fetch, argv: string[], stdin = '') {
  let stdout = ''
  let stderr = ''
  const io = {
    out: (s: string) => void (stdout += s),
    err: (s: string) => void (stderr += s),
    readStdin: async () => stdin,
  }
  const code = await run(
    argv,
    env,
    io,
    () => assert.fail('the vm commands do not use Consul directly'),
    fetchFn,
  )
  return { code, stdout, stderr }
}

test('vm apply, list, get, stop, start and delete through the controller', async () => {
  const kv = new MemoryKv()
  const seen: string[] = []
  const nomad = quietNomad({
    allocations: async () => [
      {
        ID: 'a1b2c3d4e5',
        Name: 'web.web[0]',
        NodeID: 'n1',
        NodeName: 'node-1',
        DesiredStatus: 'run',
        ClientStatus: 'running',
        TaskStates: { web: { State: 'running', StartedAt: 'x' } },
      },
    ],
    allocation: async () => ({
      AllocatedResources: { Shared: { Ports: [{ Label: 'http', Value: 26001, HostIP: '127.0.0.1' }] } },
    }),
    node: async () => ({ Attributes: { 'driver.virt.accelerator': 'tcg' } }),
    taskLogTail: async () => 'READY\n',
  })
  const f = injected(api({ kv, nomad }), seen)
  const yaml = `image: { sha256: ${sha256} }\nports: { http: 8080 }\nservice: { port: http }\n`
  const applied = await leanctl(f, ['vm', 'apply', '-', '--name', 'web'], yaml)
  assert.equal(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, /^vm\/web created \(specIndex \d+\)\n$/)
  assert.equal(
    seen[0],
    'PUT http://127.0.0.1:4999/v1/vms/web',
    'LEAN_CONTROLLER_ADDR without a scheme gets http://',
  )
  assert.match(
    (await leanctl(f, ['vm', 'apply', '-', '--name', 'web'], `${yaml}vcpus: 2\n`)).stdout,
    /^vm\/web configured/,
  )

  const list = await leanctl(f, ['vm', 'list'])
  assert.match(
    list.stdout,
    /^NAME\s+STATE\s+PHASE\s+RUNNING\s+VCPUS\s+MEMORY\s+IMAGE\nweb\s+running\s+pending\s+0\/-\s+2\s+256MiB\s+abababababab\n$/,
  )
  const get = await leanctl(f, ['vm', 'get', 'web'])
  assert.match(get.stdout, /^vm\/web {2}state running {2}phase pending/)
  assert.match(
    get.stdout,
    /allocation a1b2c3d4 {2}running \(task running\) {2}node node-1 {2}accelerator tcg\n {2}ports: http 127\.0\.0\.1:26001\n {2}console \(last 1 lines\):\n {4}READY\n/,
  )
  const asJson = JSON.parse((await leanctl(f, ['vm', 'get', 'web', '-o', 'json'])).stdout)
  assert.equal(asJson.allocations[0].ports.http, '127.0.0.1:26001')

  assert.equal((await leanctl(f, ['vm', 'stop', 'web'])).stdout, 'vm/web stopped (state stopped)\n')
  assert.equal((await leanctl(f, ['vm', 'stop', 'web'])).stdout, 'vm/web unchanged (state stopped already)\n')
  assert.equal(JSON.parse(kv.data.get(`${APPS}web`)!.value).state, 'stopped')
  assert.equal((await leanctl(f, ['vm', 'start', 'web'])).stdout, 'vm/web started (state running)\n')
  assert.equal(
    (await leanctl(f, ['vm', 'delete', 'web'])).stdout,
    'vm/web deleted (the controller stops its VMs)\n',
  )
  const gone = await leanctl(f, ['vm', 'delete', 'web'])
  assert.deepEqual([gone.code, gone.stderr], [1, `error: no vm named web (no key ${APPS}web)\n`])
})

test('vm refusals: invalid documents exit 2 naming the field; another kind of app exits 1', async () => {
  const kv = new MemoryKv()
  kv.put(`${APPS}pdf`, JSON.stringify({ kind: 'wasm-service', component: { sha256 } }))
  const f = injected(api({ kv }))
  const bad = await leanctl(
    f,
    ['vm', 'apply', '-', '--name', 'web'],
    JSON.stringify({ image: { sha256 }, vcpus: 99 }),
  )
  assert.deepEqual([bad.code, bad.stderr], [2, 'invalid vcpus: expected a whole number from 1 to 64\n'])
  const kind = await leanctl(
    f,
    ['vm', 'apply', '-', '--name', 'web'],
    JSON.stringify({ kind: 'wasm-service' }),
  )
  assert.match(kind.stderr, /^invalid kind: expected "vm" or no kind/)
  const other = await leanctl(f, ['vm', 'stop', 'pdf'])
  assert.equal(other.code, 1)
  assert.match(other.stderr, /^error: app pdf is a "wasm-service" app, not a vm/)
  const down = await leanctl(
    (async () =>
      Promise.reject(
        new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:4999') }),
      )) as Fetch,
    ['vm', 'list'],
  )
  assert.deepEqual(
    [down.code, down.stderr],
    [
      1,
      'error: cannot reach the controller at http://127.0.0.1:4999 (LEAN_CONTROLLER_ADDR): connect ECONNREFUSED 127.0.0.1:4999\n',
    ],
  )
  const noImages = await leanctl(f, ['image', 'list'])
  assert.equal(noImages.code, 1)
  assert.match(
    noImages.stderr,
    /^error: the controller refused GET \/v1\/images: 503 LEAN_ERR_IMAGES_UNAVAILABLE the image endpoints need/,
  )
})

test('image upload sends the files found beside the manifest, then the manifest; again sends nothing', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-image-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  // A real qcow2 (qemu-img's): the controller inspects disks before it stores them.
  const disk = await qcow2(dir, 'made.qcow2', '1M')
  const size = formatBytes(disk.length)
  const image = diskImage('debian', disk, { guest: { minMemoryMiB: 256 } })
  const manifestFile = path.join(dir, `${image.sha256}.json`)
  await writeFile(manifestFile, image.text)
  const objects = new MemoryObjects()
  const f = injected(api({ images: new ImageStore(objects) }))

  const missing = await leanctl(f, ['image', 'upload', manifestFile])
  assert.equal(missing.code, 2)
  assert.match(
    missing.stderr,
    new RegExp(
      `${sha(disk)}\\.qcow2: not found; the manifest names images/${sha(disk)}\\.qcow2, which is not stored either`,
    ),
  )

  await writeFile(path.join(dir, `${sha(disk)}.qcow2`), disk)
  const first = await leanctl(f, ['image', 'upload', manifestFile])
  assert.equal(first.code, 0, first.stderr)
  assert.equal(
    first.stdout,
    `images/${sha(disk)}.qcow2 uploaded (${size})\nimage/debian ${image.sha256} uploaded\n`,
  )
  assert.deepEqual(objects.objects.get(`images/${sha(disk)}.qcow2`)?.bytes, disk)
  const again = await leanctl(f, ['image', 'upload', manifestFile])
  assert.equal(
    again.stdout,
    `images/${sha(disk)}.qcow2 already stored\nimage/debian ${image.sha256} already stored\n`,
  )

  const list = await leanctl(f, ['image', 'list'])
  assert.match(
    list.stdout,
    new RegExp(
      `^SHA256\\s+NAME\\s+BOOT\\s+SIZE\\s+FILES\\n${image.sha256}\\s+debian\\s+disk\\s+${size.replace('.', '\\.')}\\s+1 file\\n$`,
    ),
  )
})
