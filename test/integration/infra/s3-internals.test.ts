// The S3 server's internals on the real cloud: a private object stored through
// the S3 API, then every other port of SeaweedFS attacked as anyone on the
// node would: the master's and the volume server's HTTP (plain, and TLS
// without a certificate), the filer's HTTP over TCP and over its /tmp socket
// (read the object, write a file), and every gRPC port (plaintext HTTP/2, TLS
// without a certificate, TLS with a certificate of the cloud's other CA). None
// answers with the object or takes the file; the S3 API still serves it.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import http2 from 'node:http2'
import { test } from 'node:test'
import tls from 'node:tls'
import { layout } from '../../../infra/cloud/config.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

const SECRET = `private bytes ${uniqueName('secret')}`

interface Answer {
  status?: number
  body: string
  error?: string
}

/** A plain HTTP request over TCP or a unix socket. */
function plain(target: { port: number } | { socketPath: string }, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', ...target, method, path, timeout: 5000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => resolve({ body: '', error: err.message }))
    req.end(body)
  })
}

/** An HTTP/1.1 request over TLS, with an optional client certificate; what came back before the connection ended. */
function overTls(port: number, path: string, cert?: { cert: string; key: string }): Promise<Answer> {
  return new Promise((resolve) => {
    let text = ''
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...cert }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    })
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')))
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => (text += c))
    socket.on('error', (err) => resolve({ body: text, error: err.message }))
    socket.on('close', () => resolve({ body: text, ...(text.startsWith('HTTP/1.1 ') && { status: Number(text.slice(9, 12)) }) }))
  })
}

/** A plaintext HTTP/2 (h2c) request, as a gRPC client without TLS sends it. */
async function h2c(port: number): Promise<Answer> {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    return await new Promise<Answer>((resolve) => {
      session.on('error', (err) => resolve({ body: '', error: err.message }))
      session.on('close', () => resolve({ body: '', error: 'closed' }))
      const req = session.request({ ':method': 'POST', ':path': '/master_pb.Seaweed/ListClusterNodes', 'content-type': 'application/grpc' })
      req.setTimeout(5000, () => req.close())
      req.on('response', (headers) => resolve({ status: Number(headers[':status']), body: '' }))
      req.on('error', (err) => resolve({ body: '', error: err.message }))
      req.on('close', () => resolve({ body: '', error: 'stream closed' }))
      req.end()
    })
  } finally {
    session.destroy()
  }
}

test('nothing but the authenticated S3 API reaches what the S3 server stores', async (t) => {
  const { config, env } = await useCloud()
  const s3 = s3FromEnv(env)
  const key = `${uniqueName('internals')}.txt`
  t.after(() => s3.removeObject('cloud-pdfs', key).catch(() => {}))
  await s3.putObject('cloud-pdfs', key, Buffer.from(SECRET))
  const s = config.s3
  const objectPath = `/buckets/cloud-pdfs/${key}`
  const leaks = (a: Answer) => a.body.includes(SECRET) || a.body.includes('cloud-pdfs')

  // The master and the volume server speak HTTPS only, to holders of the S3 CA's certificates.
  for (const [what, port] of [
    ['master', s.masterPort],
    ['volume', s.volumePort],
  ] as const) {
    const asPlain = await plain({ port }, 'GET', '/status')
    assert.ok(asPlain.status === undefined || asPlain.status === 400, `${what} plain HTTP: ${asPlain.status} ${asPlain.body.slice(0, 80)}`)
    assert.ok(!leaks(asPlain), `${what} plain HTTP shows nothing`)
    for (const path of ['/status', '/cluster/status', '/dir/status', '/ui/index.html']) {
      const noCert = await overTls(port, path)
      assert.equal(noCert.status, undefined, `${what} ${path} over TLS without a certificate: ${noCert.body.slice(0, 80)}`)
      assert.ok(!leaks(noCert))
    }
  }

  // The filer's HTTP API is off, over TCP and over its socket: no read, no write.
  const filerTargets = [{ port: s.filerPort }, { socketPath: `/tmp/seaweedfs-filer-${s.filerPort}.sock` }]
  for (const target of filerTargets) {
    const read = await plain(target, 'GET', objectPath)
    assert.ok(!leaks(read), `filer ${JSON.stringify(target)} GET shows nothing: ${read.status}`)
    assert.ok(read.status === undefined || read.status === 404, `filer GET: ${read.status}`)
    const write = await plain(target, 'PUT', `/buckets/cloud-pdfs/${key}.planted`, 'planted')
    assert.ok(write.status === undefined || write.status >= 400, `filer PUT: ${write.status}`)
  }
  await assert.rejects(s3.statObject('cloud-pdfs', `${key}.planted`), 'nothing was planted')

  // gRPC (master, volume, filer, gateway): mutual TLS with the S3 CA's certificates only.
  const otherCa = { cert: await readFile(layout(config).tls.consulCert, 'utf8'), key: await readFile(layout(config).tls.consulKey, 'utf8') }
  for (const port of [s.masterGrpcPort, s.volumeGrpcPort, s.filerGrpcPort, s.s3GrpcPort]) {
    const clear = await h2c(port)
    assert.equal(clear.status, undefined, `gRPC ${port} in plaintext: ${clear.status}`)
    const noCert = await overTls(port, '/')
    assert.equal(noCert.status, undefined, `gRPC ${port} over TLS without a certificate`)
    const wrongCa = await overTls(port, '/', otherCa)
    assert.equal(wrongCa.status, undefined, `gRPC ${port} with a certificate of the cloud's other CA`)
  }

  // The S3 API speaks HTTPS only (plain HTTP gets Go's 400), answers anonymous callers with
  // AccessDenied, and the holder of the key with the object.
  const clear = await plain({ port: s.port }, 'GET', `/cloud-pdfs/${key}`)
  assert.equal(clear.status, 400)
  assert.ok(!leaks(clear))
  // This process trusts the cloud's CA (useCloud).
  const anonymous = await fetch(`${env.S3_ENDPOINT}/cloud-pdfs/${key}`)
  assert.equal(anonymous.status, 403)
  assert.ok(!(await anonymous.text()).includes(SECRET))
  let stored = ''
  for await (const chunk of await s3.getObject('cloud-pdfs', key)) stored += String(chunk)
  assert.equal(stored, SECRET)
})
