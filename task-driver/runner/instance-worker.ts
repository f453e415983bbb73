// One warm instance of the component, in its own worker thread. preview2-shim
// performs guest I/O synchronously on a helper thread and blocks the calling
// thread meanwhile, so each instance gets a thread of its own: one slow guest
// never stalls another, and a stuck guest can be stopped with terminate().
//
// The shim's HTTPServer listens on an ephemeral loopback port; the runner's
// front server forwards requests here. Messages to the parent:
//   { type: 'ready', port }            serving
//   { type: 'poisoned', reason }       trapped or over its memory limit: replace me
import { pathToFileURL } from 'node:url'
import { parentPort, workerData } from 'node:worker_threads'
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation'
import * as shimHttp from '@bytecodealliance/preview2-shim/http'

export interface InstanceWorkerData {
  readonly glue: string
  readonly modules: Record<string, WebAssembly.Module>
  readonly env: Record<string, string>
  readonly args: readonly string[]
  readonly memoryLimitBytes: number
  /** host:port pairs the guest's outgoing HTTP may reach. */
  readonly allowedAuthorities: readonly string[]
}

interface IncomingHandler {
  handle(request: unknown, responseOut: unknown): void
}

type HttpTypes = {
  Fields: { fromList(list: Array<[string, Uint8Array]>): unknown }
  OutgoingResponse: new (headers: unknown) => {
    setStatusCode(code: number): void
    body(): { write(): { blockingWriteAndFlush(b: Uint8Array): void; [Symbol.dispose](): void } }
  }
  OutgoingBody: { finish(body: unknown, trailers: undefined): void }
  ResponseOutparam: { set(out: unknown, value: { tag: 'ok'; val: unknown }): void }
}

const data = workerData as InstanceWorkerData
const port = parentPort!

const shim = new WASIShim({ sandbox: { preopens: {}, env: data.env, args: [...data.args] } } as never)
const imports = shim.getImportObject() as Record<string, unknown>
const http = imports['wasi:http/types'] as HttpTypes

// Egress: only the capability API. A denial reaches the guest as the
// wasi:http error code HTTP-request-denied (its fetch rejects).
const outgoing = imports['wasi:http/outgoing-handler'] as { handle(request: { authority(): string | undefined }, options: unknown): unknown }
const forward = outgoing.handle.bind(outgoing)
imports['wasi:http/outgoing-handler'] = {
  ...outgoing,
  handle(request: { authority(): string | undefined }, options: unknown) {
    const authority = request.authority() ?? ''
    if (!data.allowedAuthorities.includes(authority)) {
      throw Object.assign(new Error(`outgoing HTTP to ${authority} is not allowed`), { payload: { tag: 'HTTP-request-denied' } })
    }
    return forward(request, options)
  },
}

// Capture every linear memory so the host can enforce the instance's limit.
const memories: WebAssembly.Memory[] = []
async function instantiateCore(module: WebAssembly.Module, coreImports?: WebAssembly.Imports) {
  const instance = await WebAssembly.instantiate(module, coreImports)
  for (const value of Object.values(instance.exports)) if (value instanceof WebAssembly.Memory) memories.push(value)
  return instance
}

function memoryBytes(): number {
  return memories.reduce((sum, m) => sum + m.buffer.byteLength, 0)
}

// Same value as POISONED_HEADER in instance-pool.ts (kept literal: this file runs in its own thread bundle).
const POISONED_HEADER = 'x-lean-instance-poisoned'

function answerError(responseOut: unknown, status: number, text: string, poisonReason?: string): void {
  try {
    const encode = (v: string) => new TextEncoder().encode(v)
    const headers = http.Fields.fromList([
      ['content-type', encode('text/plain; charset=utf-8')],
      ...(poisonReason ? [[POISONED_HEADER, encode(encodeURIComponent(poisonReason.slice(0, 300)))] as [string, Uint8Array]] : []),
    ])
    const response = new http.OutgoingResponse(headers)
    response.setStatusCode(status)
    const body = response.body()
    http.ResponseOutparam.set(responseOut, { tag: 'ok', val: response })
    const stream = body.write()
    stream.blockingWriteAndFlush(new TextEncoder().encode(text))
    stream[Symbol.dispose]()
    http.OutgoingBody.finish(body, undefined)
  } catch {
    // The guest had already answered before it trapped; nothing more to send.
  }
}

const { instantiate } = (await import(pathToFileURL(data.glue).href)) as {
  instantiate(get: (name: string) => WebAssembly.Module, imports: unknown, core: typeof instantiateCore): Promise<Record<string, unknown>>
}
const exports = await instantiate((name) => data.modules[name]!, imports, instantiateCore)
const handler = (exports.incomingHandler ?? Object.entries(exports).find(([k]) => k.startsWith('wasi:http/incoming-handler'))?.[1]) as
  | IncomingHandler
  | undefined
if (!handler || typeof handler.handle !== 'function') {
  throw new Error('the component does not export wasi:http/incoming-handler')
}

let poisoned = false
const guarded: IncomingHandler = {
  handle(request, responseOut) {
    if (poisoned) return answerError(responseOut, 503, 'instance is being replaced\n', 'replacement pending')
    try {
      handler.handle(request, responseOut)
    } catch (err) {
      // A trap leaves the instance in an unknown state: answer 500, then ask to be replaced.
      poisoned = true
      const reason = `the component trapped: ${(err as Error).message}`
      answerError(responseOut, 500, 'the component trapped\n', reason)
      port.postMessage({ type: 'poisoned', reason })
      return
    }
    const used = memoryBytes()
    if (used > data.memoryLimitBytes) {
      poisoned = true
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
      port.postMessage({ type: 'poisoned', reason: `out of memory: linear memory ${mib(used)} exceeds instance_memory ${mib(data.memoryLimitBytes)}` })
    }
  },
}

// The Node build of the shim exports HTTPServer; its published types describe the browser build.
const { HTTPServer } = shimHttp as unknown as {
  HTTPServer: new (handler: IncomingHandler) => { listen(port: number, host: string): void; address(): unknown }
}
const server = new HTTPServer(guarded)
server.listen(0, '127.0.0.1')
const address = server.address() as { port: number }
port.postMessage({ type: 'ready', port: address.port, memoryBytes: memoryBytes() })
