// TCP connections and listeners inside a network namespace, for the tests of a
// cluster's network: a small node program run through `nsenter --net=<path>`
// (the test itself stays in the host's namespace).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** How a TCP connect ended: connected, refused, timeout, or another error code. */
export type ConnectResult = 'connected' | 'refused' | 'timeout' | string

const CONNECT = `
const [host, port, ms] = process.argv.slice(1)
const socket = require('node:net').connect({ host, port: Number(port) })
const done = (what) => { console.log(what); process.exit(0) }
setTimeout(() => done('timeout'), Number(ms))
socket.on('connect', () => done('connected'))
socket.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code))
`

/** Opens a TCP connection to host:port from the namespace at `netnsPath` (the host's when undefined). */
export async function tcpConnect(
  netnsPath: string | undefined,
  host: string,
  port: number,
  timeoutMs = 3000,
): Promise<ConnectResult> {
  const program = [process.execPath, '-e', CONNECT, host, String(port), String(timeoutMs)]
  const [file, ...args] = netnsPath ? ['nsenter', `--net=${netnsPath}`, ...program] : program
  const { stdout } = await run(file!, args, { timeout: timeoutMs + 10_000 })
  return stdout.trim()
}

const LISTEN = `
const [host, port] = process.argv.slice(1)
// A client that hangs up at once resets the socket: no crash for that.
require('node:net').createServer((s) => s.on('error', () => {}).end('hi\\n')).listen(Number(port), host, () => console.log('listening'))
`

/** A TCP listener on host:port inside the namespace at `netnsPath`; resolves once it listens. */
export async function listenIn(netnsPath: string, host: string, port: number): Promise<{ close(): void }> {
  const child: ChildProcess = spawn(
    'nsenter',
    [`--net=${netnsPath}`, process.execPath, '-e', LISTEN, host, String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve())
    child.once('exit', (code) =>
      reject(new Error(`listener on ${host}:${port} in ${netnsPath} exited (${code}): ${stderr.trim()}`)),
    )
  })
  return { close: () => child.kill('SIGTERM') }
}
