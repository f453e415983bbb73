import assert from 'node:assert/strict'
import { Resolver } from 'node:dns/promises'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { renderWasmServiceJob, type WasmServiceSpec } from '../../../jobs/wasm-service.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { stopJob } from '../../harness/wasm-job.ts'

const sha256 = 'cd'.repeat(32)

test("the seeds' PDF and email shapes pass the real agent's job validation", async () => {
  const { env } = await useCloud()
  for (const spec of [
    { name: 'pdf', component: { sha256 }, count: 6, port: { static: 8080 }, service: { name: 'pdf' } },
    { name: 'email', component: { sha256 }, count: 3, port: 'dynamic', service: { name: 'email-service', checkPath: '/health' } },
  ] satisfies WasmServiceSpec[]) {
    const answer = await nomad<{ Error: string; ValidationErrors: string[] | null }>(env.NOMAD_ADDR!, 'PUT', '/v1/validate/job', { Job: renderWasmServiceJob(spec) })
    assert.equal(answer.Error, '', `${spec.name}: ${answer.Error}`)
    assert.equal(answer.ValidationErrors, null)
  }
})

test('a rendered service runs under the wasm driver and is reachable through Consul DNS (SRV)', async (t) => {
  const { env } = await useCloud()
  const hello = await helloComponent()
  const name = uniqueName('svc')
  const spec: WasmServiceSpec = { name, component: { sha256: hello.sha256, source: hello.file }, count: 2, port: 'dynamic', service: { name, checkPath: '/' } }
  await nomad(env.NOMAD_ADDR!, 'PUT', '/v1/jobs', { Job: renderWasmServiceJob(spec) })
  t.after(() => stopJob(env.NOMAD_ADDR!, name).catch(() => {}))

  // Consul DNS answers only passing instances; SRV carries each dynamic port.
  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers([env.CONSUL_DNS_ADDR!])
  const records = await waitFor(
    async () => {
      const srv = await resolver.resolveSrv(`${name}.service.consul`)
      return srv.length === 2 ? srv : false
    },
    { timeoutMs: 60_000, what: `two SRV records for ${name}.service.consul` },
  )
  for (const record of records) {
    const [ip] = await resolver.resolve4(record.name)
    const res = await fetch(`http://${ip}:${record.port}/`)
    assert.equal(await res.text(), 'hello from wasm\n')
  }
})
