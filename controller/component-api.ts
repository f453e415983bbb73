// The component endpoints, over the S3 server's `artifacts` bucket:
//   HEAD /v1/components/<sha256>   200 when components/<sha256>.wasm is stored, 404 when not
//   PUT  /v1/components/<sha256>   raw body, streamed; stored only if its sha256 matches and
//                                  the inspection passes (component-store.ts)
// Bodies are taken raw (any content type): a digest is of the bytes as sent.
// Without the controller's S3 settings both answer 503. Both need the caller's
// Consul token, as the image endpoints do: HEAD one that may read desired
// state, PUT one that may write it.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SHA256 } from '../ground/digest.ts'
import { ApiError } from './api-errors.ts'
import { componentTooLarge, type ComponentStore } from './component-store.ts'

const unavailable = () =>
  new ApiError(
    503,
    'LEAN_ERR_COMPONENTS_UNAVAILABLE',
    'the component endpoints need the controller to reach S3: start it with S3_ENDPOINT, S3_PUBLISHER_ACCESS_KEY and S3_PUBLISHER_SECRET_KEY (the local cloud writes them to cloud.env)',
  )

/** Whether the caller's token may read, or write, desired state: each resolves, or throws 401/403. */
export interface ComponentAccess {
  readonly mayRead: (req: FastifyRequest) => Promise<void>
  readonly mayWrite: (req: FastifyRequest) => Promise<void>
}

function digestOf(raw: string): string {
  if (!SHA256.test(raw))
    throw new ApiError(
      400,
      'LEAN_ERR_API_REQUEST',
      `expected the component's sha256 (64 lower-case hexadecimal characters), got ${JSON.stringify(raw).slice(0, 100)}`,
      'sha256',
      'expected 64 lower-case hexadecimal characters',
    )
  return raw
}

export function registerComponentRoutes(
  app: FastifyInstance,
  components: ComponentStore | undefined,
  access: ComponentAccess,
): void {
  const store = (): ComponentStore => {
    if (!components) throw unavailable()
    return components
  }

  void app.register(async (scope) => {
    // The handler reads the request itself (req.raw), whatever its content type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null))

    scope.head<{ Params: { sha256: string } }>('/v1/components/:sha256', async (req, reply) => {
      const sha256 = digestOf(req.params.sha256)
      await access.mayRead(req)
      return reply.code((await store().exists(sha256)) ? 200 : 404).send()
    })

    scope.put<{ Params: { sha256: string } }>('/v1/components/:sha256', async (req, reply) => {
      const sha256 = digestOf(req.params.sha256)
      await access.mayWrite(req)
      const components = store()
      // A body announced as too large is refused before a byte of it is read.
      const declared = Number(req.headers['content-length'])
      if (declared > components.limits.maxBytes) throw componentTooLarge(components.limits.maxBytes)
      const stored = await components.put(sha256, req.raw)
      return reply.code(stored.uploaded ? 201 : 200).send(stored)
    })
  })
}
