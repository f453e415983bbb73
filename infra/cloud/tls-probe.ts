// What certificate a shared service serves: connects, asks for TLS the way the
// protocol does (S3: at once; PostgreSQL: SSLRequest; SMTP: EHLO, STARTTLS),
// and verifies the server against the given CA, as its clients do. cloud:up
// uses it to tell a service still serving an older certificate (or none) from
// one serving the current one; the tests use it to look at the handshake.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import tls from 'node:tls'

export type TlsStart = 'tls' | 'postgres' | 'smtp'

/** Resolves once `socket` has sent a whole reply that `done` accepts; rejects on close or error. */
function readUntil(socket: net.Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if (!done(text)) return
      cleanup()
      resolve(text)
    }
    const onEnd = () => {
      cleanup()
      reject(new Error(`the server closed the connection after '${text.trim()}'`))
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    const cleanup = () => socket.off('data', onData).off('end', onEnd).off('error', onError)
    socket.on('data', onData).once('end', onEnd).once('error', onError)
  })
}

/** The last line of an SMTP reply ("250 …", not "250-…"), once it is complete. */
const smtpReply = (text: string) => /(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)

/** Takes `socket` from plain text to where the server expects a TLS ClientHello. */
async function startTls(socket: net.Socket, how: TlsStart): Promise<void> {
  if (how === 'postgres') {
    // SSLRequest: length 8, code 80877103; the server answers one byte, S or N.
    socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
    const answer = await readUntil(socket, (t) => t.length >= 1)
    if (answer !== 'S') throw new Error(`PostgreSQL refuses TLS (answered '${answer}' to SSLRequest)`)
  } else if (how === 'smtp') {
    const greeting = await readUntil(socket, smtpReply)
    if (!greeting.startsWith('220')) throw new Error(`SMTP greeted with '${greeting.trim()}'`)
    socket.write('EHLO lean-cloud-probe\r\n')
    const ehlo = await readUntil(socket, smtpReply)
    if (!/^250[ -]STARTTLS\r?$/im.test(ehlo)) throw new Error('the SMTP server does not offer STARTTLS')
    socket.write('STARTTLS\r\n')
    const ready = await readUntil(socket, smtpReply)
    if (!ready.startsWith('220')) throw new Error(`STARTTLS answered '${ready.trim()}'`)
  }
}

/**
 * The certificate `host:port` serves, once it verified against `ca` (PEM) and
 * `host`; rejects when the service does not speak TLS, or its certificate is
 * not trusted or names another host.
 */
export async function servedCertificate(host: string, port: number, how: TlsStart, ca: string, timeoutMs = 3000): Promise<X509Certificate> {
  const plain = net.connect({ host, port })
  plain.setTimeout(timeoutMs, () => plain.destroy(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`)))
  try {
    await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject))
    await startTls(plain, how)
    const secure = tls.connect({ socket: plain, ca, ...(net.isIP(host) === 0 && { servername: host }) })
    secure.setTimeout(timeoutMs, () => secure.destroy(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`)))
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject))
    const peer = secure.getPeerX509Certificate()
    secure.destroy()
    if (!peer) throw new Error(`${host}:${port} presented no certificate`)
    return peer
  } finally {
    plain.destroy()
  }
}

/**
 * Why the service on `host:port` must be restarted to serve the certificate
 * in `certFile` (trusted through `caFile`): it serves another certificate, or
 * no TLS at all; undefined when it serves that one, or when nothing listens
 * there (then it is not running).
 */
export async function servesOtherCertificate(host: string, port: number, how: TlsStart, files: { readonly caFile: string; readonly certFile: string }): Promise<string | undefined> {
  let ca: string
  let current: X509Certificate
  try {
    ca = await readFile(files.caFile, 'utf8')
    current = new X509Certificate(await readFile(files.certFile, 'utf8'))
  } catch (err) {
    return `its certificate cannot be read (${(err as Error).message})`
  }
  try {
    const served = await servedCertificate(host, port, how, ca)
    return served.fingerprint256 === current.fingerprint256 ? undefined : 'it serves an older certificate'
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ECONNREFUSED') return undefined
    return `it does not serve TLS with the current certificate (${(err as Error).message.split('\n')[0]!.trim()})`
  }
}
