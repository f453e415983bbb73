// fetch for leanctl's unit tests, answered by the controller's real HTTP API
// in-process (requests are injected, no socket); each request is noted in `seen`.
import type { FastifyInstance } from 'fastify'
import type { Fetch } from '../../../cli/controller-client.ts'

export function injected(app: FastifyInstance, seen: string[] = []): Fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input))
    seen.push(`${init.method} ${url.origin}${url.pathname}`)
    let payload: Buffer | undefined
    if (init.body instanceof ReadableStream) {
      const chunks: Uint8Array[] = []
      for await (const chunk of init.body as ReadableStream<Uint8Array>) chunks.push(chunk)
      payload = Buffer.concat(chunks)
    } else if (init.body !== undefined && init.body !== null) {
      payload = Buffer.from(init.body as string | Uint8Array)
    }
    const res = await app.inject({
      method: init.method as 'GET',
      url: url.pathname,
      headers: init.headers as Record<string, string>,
      ...(payload && { payload }),
    })
    const empty = res.statusCode === 204 || init.method === 'HEAD'
    return new Response(empty ? null : res.rawPayload, {
      status: res.statusCode,
      headers: { 'content-type': String(res.headers['content-type'] ?? '') },
    })
  }) as Fetch
}
