import assert from 'node:assert/strict'
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { layout, loadConfig } from '../../../infra/cloud/config.ts'
import { builtBinary } from '../../../infra/cloud/binaries.ts'
import { testCredentials } from './test-credentials.ts'
import {
  installedDriverDir,
  nomadAgent,
  nomadConfigFor,
  probeImageManifest,
  renderNomadConfig,
  renderVirtPluginBlock,
  renderWasmPluginBlock,
} from '../../../infra/cloud/agents/nomad.ts'
import { buildDriver } from '../../../task-driver/build.ts'

test('the Nomad agent config names the wasm plugin block with its cache and S3 settings', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc', LEAN_CLOUD_NOMAD_HTTP_PORT: '5646' })
  const without = renderNomadConfig(config)
  assert.match(without, /plugin_dir\s+= "\/srv\/lc\/nomad\/plugins"/)
  assert.match(without, /http = 5646/)
  assert.match(without, /address\s+= "127\.0\.0\.1:8500"/)
  assert.doesNotMatch(without, /plugin "wasm"/)
  const creds = testCredentials
  const withWasm = renderNomadConfig(config, renderWasmPluginBlock(config, creds))
  assert.match(withWasm, /plugin "wasm" \{/)
  assert.match(withWasm, /cache_dir\s+= "\/srv\/lc\/nomad\/wasm-cache"/)
  assert.match(withWasm, /s3_endpoint\s+= "https:\/\/127\.0\.0\.1:9000"/)
  assert.match(withWasm, /s3_ca_file\s+= "\/srv\/lc\/tls\/ca\.pem"/, "S3 is verified against the cloud's CA")
  assert.match(withWasm, /sslmode=verify-full&sslrootcert=\/srv\/lc\/tls\/ca\.pem"/, 'the database too')
  assert.match(withWasm, /s3_access_key\s+= "DAK"/, 'the driver uses its own S3 identity, not the admin')
  assert.match(
    withWasm,
    /database_url\s+= "postgres:\/\/lean_writer:writer-pw@/,
    'capability hosts write with the writer role, not the owner',
  )
  assert.doesNotMatch(withWasm, /wasmtime_host/, 'no host built: no wasmtime_host')
  assert.match(
    renderWasmPluginBlock(config, creds, '/cache/bin/wasm-host-abc'),
    /wasmtime_host\s+= "\/cache\/bin\/wasm-host-abc"/,
  )
})

test('a second cloud on the host (port offset, own data dir) shares no port range or cgroup', () => {
  const user = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/user' })
  const tests = loadConfig({
    LEAN_CLOUD_DATA_DIR: '/srv/tests',
    LEAN_CLOUD_PORT_OFFSET: '1000',
    LEAN_CLOUD_NOMAD_DYNAMIC_PORTS: '26000-31999',
  })
  const a = renderNomadConfig(user)
  const b = renderNomadConfig(tests)
  assert.match(a, /min_dynamic_port\s+= 20000/)
  assert.match(b, /min_dynamic_port\s+= 26000/)
  assert.match(b, /http = 5646/)
  assert.notEqual(user.nomad.cgroupParent, tests.nomad.cgroupParent)
})

test('the wasm plugin block points the mail capability at the cloud SMTP server', () => {
  const config = loadConfig({ LEAN_CLOUD_SMTP_PORT: '2626' })
  const creds = testCredentials
  const block = renderWasmPluginBlock(config, creds)
  assert.match(block, /smtp_addr\s+= "127\.0\.0\.1:2626"/)
  assert.match(block, /smtp_from\s+= "Lean Cloud <pdf@lean-cloud\.localhost>"/)
  assert.match(block, new RegExp(`smtp_ca_file\\s+= "${layout(config).tls.caCert.replace(/[.]/g, '\\.')}"`))
})

test("the virt plugin block names the cloud's own libvirtd, the image store as the only local image dir, and the probe image", () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const block = renderVirtPluginBlock(config, testCredentials, '/cache/images/store/abc.json')
  assert.match(block, /plugin "virt" \{/)
  assert.match(block, /libvirt_uri\s+= "qemu:\/\/\/system\?socket=\/srv\/lc\/libvirt\/run\/libvirt-sock"/)
  assert.match(block, /image_paths\s+= \["\/cache\/images\/store"\]/)
  assert.match(block, /probe_image\s+= "\/cache\/images\/store\/abc\.json"/)
  assert.match(block, /image_cache_dir\s+= "\/srv\/lc\/nomad\/virt-images"/)
})

test('a running Nomad whose config file or driver is out of date must restart', async (t) => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: await mkdtemp(path.join(tmpdir(), 'nomad-config-')) })
  const credentials = testCredentials
  const ctx = { config, credentials, progress: () => {} }
  const file = layout(config).nomadConfig
  assert.match((await nomadAgent.restartReason!(ctx))!, /out of date/, 'no config file at all')
  await mkdir(path.dirname(file), { recursive: true })
  // What an agent started before the SMTP attributes existed was given.
  const probeImage = await probeImageManifest()
  await writeFile(file, nomadConfigFor(config, credentials, probeImage).replace(/^\s+smtp_.*\n/gm, ''))
  assert.match((await nomadAgent.restartReason!(ctx))!, new RegExp(`${file} is out of date`))
  // Up to date: the config names the wasmtime host the build script has (if any) for these sources,
  // and the driver this cloud's agent loaded is the one the sources build.
  await writeFile(
    file,
    nomadConfigFor(config, credentials, probeImage, await builtBinary(config, 'wasm-host')),
  )
  const driverDir = installedDriverDir(config)
  t.after(() => rm(driverDir, { recursive: true, force: true }))
  assert.equal(
    await nomadAgent.restartReason!(ctx),
    'the task drivers changed',
    'no driver installed for this cloud yet',
  )
  await buildDriver(driverDir)
  assert.equal(await nomadAgent.restartReason!(ctx), undefined)
  await appendFile(path.join(driverDir, 'plugin.mjs'), '\n// built from other sources\n')
  assert.equal(await nomadAgent.restartReason!(ctx), 'the task drivers changed')
  await writeFile(
    file,
    nomadConfigFor(config, credentials, probeImage, '/elsewhere/wasm-host-0123456789abcdef'),
  )
  assert.match((await nomadAgent.restartReason!(ctx))!, /out of date/, 'a wasmtime host from other sources')
})

test("the cloud's Nomad denies by default, encrypts gossip and reaches Consul with a token", () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const hcl = nomadConfigFor(config, testCredentials, '/images/tiny.json')
  assert.match(hcl, /^acl \{\n {2}enabled = true\n\}/m)
  assert.match(hcl, /encrypt\s+= "nomad-gossip"/)
  assert.match(hcl, /consul \{[^}]*token\s+= "nomad-consul-token"/)
  assert.doesNotMatch(renderNomadConfig(config), /acl \{/, 'a rendering without credentials has no ACL block')
})
