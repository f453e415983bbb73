import assert from 'node:assert/strict'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import {
  ACCELERATORS,
  defaultVirtConfig,
  parseVirtPluginConfig,
  virtPluginConfigSpec,
} from '../../../task-driver/virt/plugin-config.ts'

/** Asserts a LEAN_ERR_VIRT_CONFIG whose message names the attribute ("plugin config <attribute>: …"). */
function configError(raw: Record<string, unknown>, attribute: string, reason?: RegExp): void {
  assert.throws(
    () => parseVirtPluginConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof VirtError, `expected a VirtError, got ${String(err)}`)
      assert.equal(err.code, 'LEAN_ERR_VIRT_CONFIG')
      assert.ok(
        err.message.startsWith(`plugin config ${attribute}: `),
        `expected the message to name ${attribute}: ${err.message}`,
      )
      if (reason) assert.match(err.message, reason)
      return true
    },
  )
}

const s3Keys = { s3_access_key: 'lean', s3_secret_key: 'lean-secret' }

test('an empty block gives the defaults: qemu:///system, no image paths, auto, 32 MiB, no S3', () => {
  const c = parseVirtPluginConfig({})
  assert.deepEqual(c, defaultVirtConfig())
  assert.deepEqual(c, {
    libvirtUri: 'qemu:///system',
    imagePaths: [],
    imageCacheDir: path.join(os.tmpdir(), 'lean-cloud-virt-images'),
    accelerator: 'auto',
    tbCacheMiB: 32,
  })
  assert.ok(!('s3' in c))
  assert.ok(!('probeImage' in c))
  // Empty strings (an attribute left blank) and nulls are "not set".
  assert.deepEqual(
    parseVirtPluginConfig({ libvirt_uri: '', image_cache_dir: '', accelerator: '', tb_cache_mib: null }),
    c,
  )
})

test('every attribute given: the parsed shape, paths normalized', () => {
  const c = parseVirtPluginConfig({
    libvirt_uri: 'qemu:///system?socket=/data/libvirt/run/libvirt-sock',
    image_paths: ['/srv/images', '/data/./store/../images'],
    image_cache_dir: '/var/cache/lean/virt',
    probe_image: '/srv/images/probe.json',
    accelerator: 'tcg',
    tb_cache_mib: 64,
    s3_endpoint: 'https://127.0.0.1:9000',
    ...s3Keys,
    s3_region: 'eu-west-1',
    s3_ca_file: '/data/tls/ca.pem',
  })
  assert.deepEqual(c, {
    libvirtUri: 'qemu:///system?socket=/data/libvirt/run/libvirt-sock',
    imagePaths: ['/srv/images', '/data/images'],
    imageCacheDir: '/var/cache/lean/virt',
    probeImage: '/srv/images/probe.json',
    accelerator: 'tcg',
    tbCacheMiB: 64,
    s3: {
      endpoint: 'https://127.0.0.1:9000',
      accessKey: 'lean',
      secretKey: 'lean-secret',
      region: 'eu-west-1',
      caFile: '/data/tls/ca.pem',
    },
  })
})

test('the hclspec lists the attributes the parser reads, none required', () => {
  const attrs = (
    virtPluginConfigSpec as { object: { attributes: Record<string, { Attr: { required: boolean } }> } }
  ).object.attributes
  assert.deepEqual(Object.keys(attrs).sort(), [
    'accelerator',
    'consul_dns_addr',
    'image_cache_dir',
    'image_paths',
    'libvirt_uri',
    'probe_image',
    's3_access_key',
    's3_ca_file',
    's3_endpoint',
    's3_region',
    's3_secret_key',
    'tb_cache_mib',
  ])
  for (const [name, spec] of Object.entries(attrs)) assert.equal(spec.Attr.required, false, name)
})

test('relative paths are refused, naming the attribute', () => {
  configError({ image_paths: ['/srv/images', 'images'] }, 'image_paths', /absolute path, got "images"/)
  configError({ s3_endpoint: 'https://s3', ...s3Keys, s3_ca_file: 'ca.pem' }, 's3_ca_file', /absolute path, got ca\.pem/)
  configError({ image_paths: ['./images'] }, 'image_paths')
  configError({ image_cache_dir: 'cache/virt' }, 'image_cache_dir', /absolute path, got "cache\/virt"/)
  configError({ probe_image: 'probe.json' }, 'probe_image', /absolute path/)
  configError({ image_paths: '/srv/images' }, 'image_paths', /list of absolute paths/)
  configError({ image_paths: ['/srv/images', 3] }, 'image_paths', /list of absolute paths/)
})

test('libvirt_uri: a QEMU connection URI', () => {
  for (const uri of ['qemu:///session', 'qemu+ssh://root@host/system', 'qemu+unix:///system?socket=/s'])
    assert.equal(parseVirtPluginConfig({ libvirt_uri: uri }).libvirtUri, uri)
  configError({ libvirt_uri: 'xen:///system' }, 'libvirt_uri', /"xen:\/\/\/system"/)
  configError({ libvirt_uri: '/run/libvirt/libvirt-sock' }, 'libvirt_uri')
})

test('accelerator: auto, kvm or tcg', () => {
  assert.deepEqual([...ACCELERATORS], ['auto', 'kvm', 'tcg'])
  for (const a of ACCELERATORS) assert.equal(parseVirtPluginConfig({ accelerator: a }).accelerator, a)
  for (const a of ['KVM', 'hvf', 'none', 'kvm,tcg'])
    configError({ accelerator: a }, 'accelerator', new RegExp(`auto, kvm, tcg, got "${a}"`))
})

test('tb_cache_mib: a whole number of MiB from 1 to 4096', () => {
  for (const n of [1, 4096]) assert.equal(parseVirtPluginConfig({ tb_cache_mib: n }).tbCacheMiB, n)
  for (const n of [0, 4097, -32, 1.5, '32', Number.NaN])
    configError({ tb_cache_mib: n }, 'tb_cache_mib', /from 1 to 4096/)
})

test('S3: the keys are required with an endpoint; the region defaults to us-east-1', () => {
  configError({ s3_endpoint: 'http://127.0.0.1:9000' }, 's3_access_key and s3_secret_key', /s3_endpoint/)
  configError(
    { s3_endpoint: 'http://127.0.0.1:9000', s3_access_key: 'lean' },
    's3_access_key and s3_secret_key',
  )
  configError(
    { s3_endpoint: 'http://127.0.0.1:9000', s3_secret_key: 'lean-secret' },
    's3_access_key and s3_secret_key',
  )
  configError(
    { s3_endpoint: 'http://127.0.0.1:9000', s3_access_key: '', s3_secret_key: 'x' },
    's3_access_key and s3_secret_key',
  )
  configError({ s3_endpoint: 'not a url', ...s3Keys }, 's3_endpoint', /not a URL/)
  assert.deepEqual(parseVirtPluginConfig({ s3_endpoint: 'https://s3.example.com', ...s3Keys }).s3, {
    endpoint: 'https://s3.example.com',
    accessKey: 'lean',
    secretKey: 'lean-secret',
    region: 'us-east-1',
  })
  // Without an endpoint there is no S3, whatever the keys say.
  assert.ok(!('s3' in parseVirtPluginConfig(s3Keys)))
})

test('an error names the attribute but never carries the secret key', () => {
  const secret = 'super-secret-value'
  for (const raw of [
    { s3_endpoint: 'not a url', s3_access_key: 'lean', s3_secret_key: secret },
    { s3_endpoint: 'http://127.0.0.1:9000', s3_secret_key: secret },
  ])
    assert.throws(
      () => parseVirtPluginConfig(raw),
      (e: unknown) => e instanceof VirtError && !e.message.includes(secret),
    )
})

test('consul_dns_addr: host:port, where granted services are looked up; absent by default', () => {
  assert.equal(parseVirtPluginConfig({ consul_dns_addr: '127.0.0.1:8600' }).consulDns, '127.0.0.1:8600')
  assert.ok(!('consulDns' in parseVirtPluginConfig({})))
  configError({ consul_dns_addr: '127.0.0.1' }, 'consul_dns_addr', /host:port/)
  configError({ consul_dns_addr: 'http://127.0.0.1:8600' }, 'consul_dns_addr')
})
