// Hello: answers "hello from wasm" and exercises the host's edge cases through
// its paths, for the driver's tests and benchmarks:
//   GET /            greeting (GREETING env overrides the word "hello")
//   GET /count       requests this instance served (shows instance reuse)
//   GET /echo?x      echoes the query
//   GET /trap        throws, which traps the instance
//   GET /spin?ms=N   busy-loops N ms (request timeout tests)
//   GET /grow?mb=N   allocates N MiB and keeps it (memory limit tests)
import { getEnvironment } from 'wasi:cli/environment@0.2.12'
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.12'

let served = 0
const kept = []
const encoder = new TextEncoder()

function env(name) {
  const found = getEnvironment().find(([k]) => k === name)
  return found ? found[1] : undefined
}

function respond(responseOut, status, text) {
  const headers = Fields.fromList([['content-type', encoder.encode('text/plain; charset=utf-8')]])
  const response = new OutgoingResponse(headers)
  response.setStatusCode(status)
  const body = response.body()
  ResponseOutparam.set(responseOut, { tag: 'ok', val: response })
  const stream = body.write()
  stream.blockingWriteAndFlush(encoder.encode(text))
  stream[Symbol.dispose]()
  OutgoingBody.finish(body, undefined)
}

export const incomingHandler = {
  handle(request, responseOut) {
    served += 1
    const pathWithQuery = request.pathWithQuery() ?? '/'
    const [path, query = ''] = pathWithQuery.split('?')
    const params = new URLSearchParams(query)
    if (served === 1) console.log(`hello component serving its first request: ${path}`)
    switch (path) {
      case '/count':
        return respond(responseOut, 200, `${served}\n`)
      case '/echo':
        return respond(responseOut, 200, `${query}\n`)
      case '/trap':
        throw new Error('trap requested')
      case '/spin': {
        const until = Date.now() + Number(params.get('ms') ?? '1000')
        while (Date.now() < until) {
          // burn CPU on purpose
        }
        return respond(responseOut, 200, 'done\n')
      }
      case '/grow': {
        const mb = Number(params.get('mb') ?? '16')
        const block = new Uint8Array(mb * 1024 * 1024)
        block.fill(1)
        kept.push(block)
        return respond(responseOut, 200, `grew ${mb} MiB\n`)
      }
      default:
        return respond(responseOut, 200, `${env('GREETING') ?? 'hello'} from wasm\n`)
    }
  },
}
