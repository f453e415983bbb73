// OpenTofu with the lean provider, as operators run it (the tofu CLI, the
// provider from the build cache through dev_overrides, no init), against a
// controller process on the tests' real Consul, Nomad and S3: a refused document at
// plan time; a component and a small app applied until it runs; a hand edit
// of its KV document seen as drift; a write over a concurrent change refused
// and nothing overwritten; the app imported by name; destroy leaving nothing
// in KV or Nomad.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { openTofuBinaries, tofu, writeCliConfig } from '../../../infra/opentofu/tofu.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { spawnController } from '../../harness/controller-process.ts'
import { uniqueName } from '../../harness/names.ts'

/** The configuration under test; memoryMB is a variable, so a refused value can be planned first. */
function configuration(wasm: string, app: string): string {
  return `terraform {
  required_providers {
    lean = { source = "lean-cloud/lean" }
  }
}

# address and token from LEAN_CONTROLLER_ADDR and CONSUL_HTTP_TOKEN
provider "lean" {}

variable "memory_mb" { type = number }
variable "greeting" { type = string }

resource "lean_component" "hello" {
  file = ${JSON.stringify(wasm)}
}

resource "lean_app" "hello" {
  name             = ${JSON.stringify(app)}
  component        = { sha256 = lean_component.hello.sha256 }
  allocation_count = 1
  service          = { check_path = "/health" }
  env              = { GREETING = var.greeting }
  resources        = { cpu = 100, memory_mb = var.memory_mb }
}

data "lean_app" "hello" {
  name = lean_app.hello.name
}

output "phase" { value = data.lean_app.hello.phase }
output "addresses" { value = data.lean_app.hello.addresses }
`
}

test('OpenTofu: plan, apply until running, drift, a concurrent change refused, import, destroy', async (t) => {
  const { env } = await useCloud()
  const binaries = await openTofuBinaries()
  const root = uniqueName('lean-test')
  // Its own keys under root; its own least-privilege tokens (controller-identity.ts).
  const controller = await spawnController({
    ...env,
    LEAN_APPS_PREFIX: `${root}/apps/`,
    LEAN_STATUS_PREFIX: `${root}/status/`,
    LEAN_LEADER_KEY: `${root}/leader`,
  })
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const nomad = new NomadApi(env.NOMAD_ADDR!, env.NOMAD_TOKEN, env.NOMAD_NAMESPACE)
  const app = uniqueName('tofu')
  const key = `${root}/apps/${app}`
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-opentofu-'))
  t.after(async () => {
    await controller.kill()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await nomad.deregister(app).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  await controller.waitForRole('leader')
  const hello = await helloComponent()
  await writeFile(path.join(dir, 'main.tf'), configuration(hello.file, app))
  const cli = await writeCliConfig(dir, binaries.provider)
  // Only the provider's settings and OpenTofu's: no other cloud variable reaches it.
  const shell = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LEAN_CONTROLLER_ADDR: controller.url,
    CONSUL_HTTP_TOKEN: env.CONSUL_HTTP_TOKEN,
  }
  // Each step is bounded: a hang fails with what OpenTofu printed so far.
  const bounded = { timeoutMs: 300_000 }
  const run = (...args: string[]) => tofu(binaries, cli, dir, [...args, '-no-color'], shell, bounded)
  const vars = (memory: number, greeting = 'hello') => [
    '-var',
    `memory_mb=${memory}`,
    '-var',
    `greeting=${greeting}`,
  ]

  // Without the operator's token the controller refuses, and the provider says where the token comes from.
  const tokenless = Object.fromEntries(Object.entries(shell).filter(([name]) => name !== 'CONSUL_HTTP_TOKEN'))
  const anonymous = await tofu(binaries, cli, dir, ['plan', '-no-color', ...vars(384)], tokenless, bounded)
  assert.equal(anonymous.code, 1, anonymous.stdout)
  assert.match(anonymous.stderr, /LEAN_ERR_TOKEN_REQUIRED/)
  assert.match(anonymous.stderr.replace(/\s+/g, ' '), /Set the provider's token, or CONSUL_HTTP_TOKEN/)

  // The controller's validator refuses at plan time, in its own words, naming the attribute; nothing is written.
  const refused = await run('plan', ...vars(1))
  assert.equal(refused.code, 1, refused.stdout)
  assert.match(refused.stderr, /Invalid wasm-service document for app/)
  assert.match(refused.stderr, /resources\.memoryMB: expected a whole number from 16 to 1048576/)
  assert.match(refused.stderr, /attribute resources\.memory_mb/)
  assert.equal(await kv.get(key), undefined)

  const planned = await run('plan', '-detailed-exitcode', ...vars(384))
  assert.equal(planned.code, 2, planned.stderr)
  assert.match(planned.stdout, /Plan: 2 to add, 0 to change, 0 to destroy/)

  // Apply returns once the app runs.
  const applied = await run('apply', '-auto-approve', ...vars(384))
  assert.equal(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, /phase = "running"/)
  assert.match(applied.stdout, /addresses = tolist\(\[\s+"127\.0\.0\.1:\d+",\s+\]\)/)
  const stored = await kv.get(key)
  assert.deepEqual(JSON.parse(stored!.value), {
    kind: 'wasm-service',
    component: { sha256: hello.sha256 },
    count: 1,
    service: { checkPath: '/health' },
    env: { GREETING: 'hello' },
    resources: { cpu: 100, memoryMB: 384 },
  })
  const unchanged = await run('plan', '-detailed-exitcode', ...vars(384))
  assert.equal(unchanged.code, 0, unchanged.stdout)

  // A hand edit of the document shows as drift in the next plan.
  const edited = JSON.stringify({ ...JSON.parse(stored!.value), env: { GREETING: 'edited by hand' } })
  assert.ok(await kv.set(key, edited, stored!.modifyIndex))
  const drift = await run('plan', '-detailed-exitcode', ...vars(384))
  assert.equal(drift.code, 2, drift.stderr)
  assert.match(drift.stdout, /"GREETING" = "edited by hand" -> "hello"/)

  // A write from a state read before that edit is refused, and the edit stays.
  const stale = await run('apply', '-auto-approve', '-refresh=false', ...vars(384, 'second'))
  assert.equal(stale.code, 1, stale.stdout)
  assert.match(stale.stderr, /changed outside OpenTofu/)
  // OpenTofu wraps the message: compare it as one line.
  assert.match(
    stale.stderr.replace(/\s+/g, ' '),
    /If-Match \d+ does not hold \(its specIndex is \d+\); nothing was written/,
  )
  assert.equal((await kv.get(key))!.value, edited)

  // Applied again, the configuration wins; then the app is taken over by name, as if it had been made by hand.
  assert.equal((await run('apply', '-auto-approve', ...vars(384))).code, 0)
  assert.equal(JSON.parse((await kv.get(key))!.value).env.GREETING, 'hello')
  assert.equal((await run('state', 'rm', 'lean_app.hello')).code, 0)
  const imported = await run('import', ...vars(384), 'lean_app.hello', app)
  assert.equal(imported.code, 0, imported.stderr)
  const afterImport = await run('plan', '-detailed-exitcode', ...vars(384))
  assert.equal(afterImport.code, 0, afterImport.stdout)

  // Destroy: nothing left in KV, and the controller purges the job.
  const destroyed = await run('destroy', '-auto-approve', ...vars(384))
  assert.equal(destroyed.code, 0, destroyed.stderr)
  assert.equal(await kv.get(key), undefined)
  await waitFor(async () => (await nomad.job(app)) === undefined, {
    timeoutMs: 60_000,
    intervalMs: 500,
    what: `job ${app} purged`,
  })
})
