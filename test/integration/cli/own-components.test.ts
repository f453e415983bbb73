// Any team's component, as a user brings it: the Rust and the Python
// examples (built by the project's pinned scripts) are pushed and applied
// with leanctl through a controller on the tests' real Consul, Nomad and S3,
// then called by name (Consul SRV). The Python service calls the Rust one with
// plain wasi:http through its `grants.outbound`; a service it was not granted,
// and the node itself, stay out of reach.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { startControllerService } from '../../../controller/service.ts'
import { checkServiceComponent } from '../../../ground/component-check.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { buildPythonHello, buildRustHello } from '../../../infra/components/other-toolchains.ts'
import { useCloud } from '../../harness/cloud.ts'
import { capabilityProbeComponent, emailComponent, helloComponent, pdfComponent } from '../../harness/components.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { isolatedControllerConfig } from '../../harness/controller-config.ts'
import { operatorLeanctl } from '../../harness/leanctl.ts'
import { uniqueName } from '../../harness/names.ts'

test('a Rust and a Python component: pushed, applied, called by name, one calling the other over grants.outbound', { timeout: 900_000 }, async (t) => {
  const [rust, python] = [await buildRustHello(), await buildPythonHello()]
  const { env, config: cloud } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  const service = await startControllerService(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const dir = await mkdtemp(path.join(tmpdir(), 'own-components-'))
  const [callee, caller] = [uniqueName('rusty'), uniqueName('pythonic')]
  t.after(async () => {
    await kv.deleteTree(`${root}/`).catch(() => {})
    await service.stop()
    const nomad = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
    for (const app of [callee, caller]) await nomad.deregister(app).catch(() => {})
    const s3 = s3FromEnv(env)
    for (const c of [rust, python]) await s3.removeObject('artifacts', `components/${c.sha256}.wasm`).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  const leanctl = operatorLeanctl(env, service.url, config)

  await t.test('every component the project builds passes the check push makes: the handler export, only imports the engine has', async () => {
    const built = [rust, python, await helloComponent(), await pdfComponent(), await emailComponent(), await capabilityProbeComponent()]
    for (const c of built) {
      const { imports, exports } = checkServiceComponent(await readFile(c.file))
      assert.ok(exports.some((e) => e.name.startsWith('wasi:http/incoming-handler@0.2.')), c.file)
      assert.ok(imports.some((i) => i.name.startsWith('wasi:http/types@0.2.')), c.file)
    }
  })

  await t.test('push: each toolchain\'s component passes the check and is stored under its digest', async () => {
    for (const c of [rust, python]) {
      const pushed = await leanctl('component', 'push', c.file)
      assert.equal(pushed.code, 0, pushed.stderr)
      assert.deepEqual(JSON.parse(pushed.stdout).component, { sha256: c.sha256 })
    }
  })

  await t.test('apply, wait, call by name; the caller reaches exactly what its outbound grant names', async () => {
    const documents: Array<[string, Record<string, unknown>]> = [
      [callee, { kind: 'wasm-service', component: { sha256: rust.sha256 }, count: 1, service: { checkPath: '/' } }],
      [
        caller,
        {
          kind: 'wasm-service',
          component: { sha256: python.sha256 },
          count: 1,
          service: { checkPath: '/' },
          grants: { outbound: [`http://${callee}.service.consul`] },
          // CPython in the component: more room per instance than the default.
          limits: { instanceMemory: '128MiB' },
          instances: 2,
          resources: { cpu: 200, memoryMB: 384 },
        },
      ],
    ]
    for (const [app, doc] of documents) {
      const file = path.join(dir, `${app}.json`)
      await writeFile(file, JSON.stringify(doc))
      const applied = await leanctl('apply', '-f', file)
      assert.equal(applied.code, 0, applied.stderr)
    }
    for (const [app] of documents) {
      const waited = await leanctl('wait', app, '--timeout', '6m')
      assert.equal(waited.code, 0, `${app}: ${waited.stdout}${waited.stderr}`)
    }
    const dns = env.CONSUL_DNS_ADDR!
    const [rustUrl, pythonUrl] = [await serviceUrl(dns, callee), await serviceUrl(dns, caller)]
    assert.equal(await (await fetch(`${rustUrl}/`)).text(), 'hello from rust\n')
    assert.equal(await (await fetch(`${pythonUrl}/`)).text(), 'hello from python\n')

    const call = async (url: string) => {
      const res = await fetch(`${pythonUrl}/call?url=${encodeURIComponent(url)}`)
      return { status: res.status, text: await res.text() }
    }
    // Python → Rust by Consul name: the host finds the instance and its dynamic port through SRV.
    const granted = await call(`http://${callee}.service.consul/`)
    assert.equal(granted.status, 200, granted.text)
    assert.match(granted.text, /^200\n[\s\S]*hello from rust/)
    // Not granted: the other way round, a Consul service of the cloud, the node itself, the outside.
    for (const url of [
      `http://${caller}.service.consul/`,
      'http://consul.service.consul/v1/status/leader',
      `http://127.0.0.1:${cloud.consul.httpPort}/v1/status/leader`,
      `http://${callee}.service.consul:${cloud.consul.httpPort}/`,
      'https://example.com/',
    ]) {
      const refused = await call(url)
      assert.equal(refused.status, 502, `${url}: ${refused.text}`)
      assert.match(refused.text, /HTTP-request-denied/i, url)
    }
  })
})
