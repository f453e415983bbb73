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
const CONTENT_TYPE = encoder.encode('text/plain; charset=utf-8')

// The greeting's bytes, made on the first request (the environment does not
// exist yet when the module is pre-initialised at build time) and reused.
let greetingBytes

// Every call into a wasi binding runs generated glue in the engine's
// interpreter and costs microseconds, so a request makes as few as it can:
// no environment read per request, pre-encoded header and greeting bytes,
// one fromList for the headers, one blocking write for the body.
function respond(responseOut, status, body) {
  const bytes = typeof body === 'string' ? encoder.encode(body) : body
  // Each header costs ~18 µs of glue (its name is UTF-8 encoded char by char
  // in the interpreter), so no content-length: the host sends it chunked.
  const headers = Fields.fromList([['content-type', CONTENT_TYPE]])
  const response = new OutgoingResponse(headers)
  if (status !== 200) response.setStatusCode(status)
  const outBody = response.body()
  ResponseOutparam.set(responseOut, { tag: 'ok', val: response })
  const stream = outBody.write()
  try {
    stream.blockingWriteAndFlush(bytes)
  } catch {
    // The client went away mid-response (a load generator closing its
    // connections does this): nothing is left to answer, and it is no reason
    // to trap and lose this instance.
    stream[Symbol.dispose]()
    outBody[Symbol.dispose]()
    return
  }
  stream[Symbol.dispose]()
  OutgoingBody.finish(outBody, undefined)
}

function param(query, name, fallback) {
  return new URLSearchParams(query).get(name) ?? fallback
}

export const incomingHandler = {
  handle(request, responseOut) {
    served += 1
    const pathWithQuery = request.pathWithQuery() ?? '/'
    request[Symbol.dispose]()
    const q = pathWithQuery.indexOf('?')
    const path = q < 0 ? pathWithQuery : pathWithQuery.slice(0, q)
    const query = q < 0 ? '' : pathWithQuery.slice(q + 1)
    if (served === 1) console.log(`hello component serving its first request: ${path}`)
    switch (path) {
      case '/count':
        return respond(responseOut, 200, `${served}\n`)
      case '/echo':
        return respond(responseOut, 200, `${query}\n`)
      case '/trap':
        throw new Error('trap requested')
      case '/spin': {
        const until = Date.now() + Number(param(query, 'ms', '1000'))
        while (Date.now() < until) {
          // burn CPU on purpose
        }
        return respond(responseOut, 200, 'done\n')
      }
      case '/grow': {
        const mb = Number(param(query, 'mb', '16'))
        const block = new Uint8Array(mb * 1024 * 1024)
        block.fill(1)
        kept.push(block)
        return respond(responseOut, 200, `grew ${mb} MiB\n`)
      }
      default: {
        if (!greetingBytes) {
          const found = getEnvironment().find(([k]) => k === 'GREETING')
          greetingBytes = encoder.encode(`${found ? found[1] : 'hello'} from wasm\n`)
        }
        return respond(responseOut, 200, greetingBytes)
      }
    }
  },
}
