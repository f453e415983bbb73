// CONSUL_CACERT / NOMAD_CACERT (and *_CAPATH): read once at start, a bad one
// named with its path, and, once trusted, fetch and the `consul` package reach
// an HTTPS server whose certificate only that CA signs.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { loadCliConfig } from '../../../cli/config.ts'
import { CaCertError, readCaCerts, trustCaCerts, trustedCa } from '../../../controller/ca-trust.ts'
import { ControllerConfigError, loadControllerConfig } from '../../../controller/config.ts'
import { createConsul } from '../../../controller/consul-client.ts'
import { layout, loadConfig } from '../../../infra/cloud/config.ts'
import { ensureTls } from '../../../infra/cloud/tls.ts'

async function cloudCa(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-ca-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: dir })
  await ensureTls(config)
  return { dir, files: layout(config).tls }
}

test('a missing, unreadable or empty CA file is an error naming the variable and the path', async (t) => {
  const { dir, files } = await cloudCa(t)
  const missing = path.join(dir, 'nope.pem')
  assert.throws(
    () => readCaCerts({ NOMAD_CACERT: missing }),
    (err: unknown) =>
      err instanceof CaCertError &&
      err.variable === 'NOMAD_CACERT' &&
      err.message === `NOMAD_CACERT: no such file: ${missing}`,
  )
  const empty = path.join(dir, 'empty.pem')
  await writeFile(empty, 'hello\n')
  assert.throws(
    () => readCaCerts({ CONSUL_CACERT: empty }),
    /^CaCertError: CONSUL_CACERT: no PEM certificate in the file: /,
  )
  assert.throws(() => readCaCerts({ CONSUL_CACERT: dir }), /CONSUL_CACERT: cannot read the file \(EISDIR\)/)
  assert.throws(() => readCaCerts({ NOMAD_CAPATH: missing }), /NOMAD_CAPATH: no such directory/)

  // The controller and leanctl read them with their configuration, and say which variable.
  assert.throws(
    () => loadControllerConfig({ CONSUL_CACERT: missing }),
    (err: unknown) =>
      err instanceof ControllerConfigError && err.message === `CONSUL_CACERT: no such file: ${missing}`,
  )
  assert.throws(() => loadCliConfig({ CONSUL_CACERT: missing }), /^Error: CONSUL_CACERT: no such file/)
  assert.equal(loadCliConfig({ NOMAD_CACERT: missing }).caCerts, undefined, 'leanctl talks to Consul only')

  const ca = await readFile(files.caCert, 'utf8')
  const c = loadControllerConfig({ CONSUL_CACERT: files.caCert, NOMAD_CACERT: files.caCert })
  assert.deepEqual(
    c.caCerts?.map((x) => [x.variable, x.pem.trim()]),
    [
      ['CONSUL_CACERT', ca.trim()],
      ['NOMAD_CACERT', ca.trim()],
    ],
  )
  // A CA path: every file in it is a PEM file, as for the consul and nomad CLIs.
  const caDir = path.join(dir, 'cas')
  await mkdir(caDir)
  await writeFile(path.join(caDir, 'ca.pem'), ca)
  assert.deepEqual(
    readCaCerts({ CONSUL_CAPATH: caDir }).map((x) => x.pem.trim()),
    [ca.trim()],
  )
  assert.throws(
    () => readCaCerts({ CONSUL_CAPATH: files.dir }),
    /^CaCertError: CONSUL_CAPATH: no PEM certificate in the file: .*ca-key\.pem$/,
  )
})

test('CONSUL_HTTP_SSL gives an address without a scheme https', () => {
  assert.equal(
    loadControllerConfig({ CONSUL_HTTP_ADDR: '127.0.0.1:8500', CONSUL_HTTP_SSL: 'true' }).consulAddr,
    'https://127.0.0.1:8500',
  )
  assert.equal(
    loadControllerConfig({ CONSUL_HTTP_ADDR: 'http://127.0.0.1:8500', CONSUL_HTTP_SSL: 'true' }).consulAddr,
    'http://127.0.0.1:8500',
  )
  assert.throws(
    () => loadControllerConfig({ CONSUL_HTTP_SSL: 'yes please' }),
    /^Error: CONSUL_HTTP_SSL: expected true or false/,
  )
})

test('once its CA is trusted, fetch and the consul package reach a server only that CA vouches for', async (t) => {
  const { files } = await cloudCa(t)
  const server = createServer(
    { cert: await readFile(files.consulCert), key: await readFile(files.consulKey) },
    (_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end('"127.0.0.1:8300"')
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

  await assert.rejects(fetch(`${url}/v1/status/leader`), (err: Error) =>
    /unable to verify the first certificate/.test(String((err.cause as Error)?.message)),
  )
  assert.equal(trustedCa(), undefined)

  trustCaCerts(readCaCerts({ CONSUL_CACERT: files.caCert }))
  assert.equal(await (await fetch(`${url}/v1/status/leader`)).json(), '127.0.0.1:8300')
  assert.equal(await createConsul(url).status.leader(), '127.0.0.1:8300')
  // The system's roots stay trusted next to it.
  assert.ok(trustedCa()!.length > 1)
})
