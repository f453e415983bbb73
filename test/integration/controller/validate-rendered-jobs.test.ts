// Every kind of job the controller can render passes the real agent's
// /v1/validate/job: the product's default workloads, and app documents from
// the smallest accepted one to one with every optional field set. The cases
// are a list: new app kinds (vm) append theirs.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'
import { renderIngressJob } from '../../../jobs/ingress.ts'
import type { NomadJob } from '../../../jobs/nomad-job.ts'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { emailWorkerSpec, pdfServiceSpec } from '../../../jobs/workloads.ts'
import { useCloud } from '../../harness/cloud.ts'

const sha256 = 'cd'.repeat(32)
const app = (name: string, document: object) => renderAppJob(parseAppSpec(name, JSON.stringify(document)))

const cases: Array<{ readonly name: string; readonly render: () => NomadJob }> = [
  {
    name: 'the pdf workload, defaults (fixed port 8080)',
    render: () => renderWasmServiceJob(pdfServiceSpec({ sha256 })),
  },
  {
    name: 'the email workload, defaults (dynamic port)',
    render: () => renderWasmServiceJob(emailWorkerSpec({ sha256 })),
  },
  {
    name: 'an app document with only the required fields',
    render: () => app('minimal', { kind: 'wasm-service', component: { sha256 } }),
  },
  {
    name: 'an app document with every optional field set',
    render: () =>
      app('everything', {
        kind: 'wasm-service',
        component: { sha256, source: `s3://artifacts/components/${sha256}.wasm` },
        count: 2,
        port: { static: 9090 },
        service: { name: 'everything-svc', checkPath: '/ready', checkIntervalSeconds: 10 },
        instances: 4,
        grants: { buckets: ['cloud-pdfs'], requestLog: true, outbound: ['http://email.service.consul'], mail: ['example.com'] },
        limits: { requestTimeout: '30s', maxRequestBody: '1MiB', instanceMemory: '128MiB' },
        env: { LOG_LEVEL: 'debug', EMPTY: '' },
        resources: { cpu: 300, memoryMB: 512 },
        ingress: { host: 'all' },
        spread: true,
        constraints: ['kvm', { attribute: 'meta.rack', operator: '!=', value: 'r1' }, { attribute: 'node.class', operator: 'is_set' }],
      }),
  },
  {
    name: 'an app document scaled to zero on a dynamic port',
    render: () => app('idle', { kind: 'wasm-service', component: { sha256 }, count: 0, port: 'dynamic' }),
  },
]

test("rendered jobs pass the real agent's job validation", async (t) => {
  const { env } = await useCloud()
  const api = new NomadApi(env.NOMAD_ADDR!, env.NOMAD_TOKEN, env.NOMAD_NAMESPACE)
  for (const c of cases) {
    await t.test(c.name, async () => {
      const answer = await api.validate(c.render())
      assert.equal(answer.Error ?? '', '', `${c.name}: ${answer.Error}`)
      assert.deepEqual(answer.ValidationErrors ?? [], [])
    })
  }
  // The cloud's ingress lives in the system namespace, the only one where raw_exec may run.
  const { config } = await useCloud()
  await t.test("the cloud's ingress (HAProxy, a system job, in the system namespace)", async () => {
    const system = new NomadApi(env.NOMAD_ADDR!, env.NOMAD_TOKEN, config.nomad.systemNamespace)
    const answer = await system.validate(
      renderIngressJob({ port: 8088, consulDns: '127.0.0.1:8600', namespace: config.nomad.systemNamespace }),
    )
    assert.equal(answer.Error ?? '', '', answer.Error)
    assert.deepEqual(answer.ValidationErrors ?? [], [])
  })
})
