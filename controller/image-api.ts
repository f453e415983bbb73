// The image endpoints of the VM API, over the S3 server's `artifacts` bucket:
//   GET  /v1/images                          the manifests, with their files
//   HEAD /v1/images/files/<sha256>.<ext>     200 when the file is stored, 404 when not
//   PUT  /v1/images/files/<sha256>.<ext>     raw body, streamed; stored only if its sha256 matches
//   PUT  /v1/images/<sha256>                 the manifest's exact bytes; stored only if its digest
//                                            and schema hold and every file it names is stored
// Bodies are taken raw (any content type): a digest is of the bytes as sent.
// Without the controller's S3 settings every one answers 503. Every one needs
// the caller's Consul token: reads one that may read desired state, uploads one
// that may write it.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SHA256 } from '../ground/digest.ts'
import { ApiError, badRequest } from './api-errors.ts'
import { MAX_MANIFEST_BYTES, parseFileName, type ImageStore } from './image-store.ts'

const unavailable = () =>
  new ApiError(
    503,
    'LEAN_ERR_IMAGES_UNAVAILABLE',
    'the image endpoints need the controller to reach S3: start it with S3_ENDPOINT, S3_PUBLISHER_ACCESS_KEY and S3_PUBLISHER_SECRET_KEY (the local cloud writes them to cloud.env)',
  )

async function readBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req.raw) {
    size += (chunk as Buffer).length
    if (size > limit)
      throw new ApiError(
        413,
        'LEAN_ERR_API_REQUEST',
        `the body is larger than ${limit} bytes (a manifest is a few KiB)`,
      )
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Whether the caller's token (X-Consul-Token) may read, or write, desired state: each resolves, or throws 401/403. */
export interface ImageAccess {
  readonly mayRead: (req: FastifyRequest) => Promise<void>
  /** Uploads need what creating a vm needs. */
  readonly mayWrite: (req: FastifyRequest) => Promise<void>
}

export function registerImageRoutes(
  app: FastifyInstance,
  images: ImageStore | undefined,
  access: ImageAccess,
): void {
  const { mayRead, mayWrite } = access
  const store = (): ImageStore => {
    if (!images) throw unavailable()
    return images
  }

  void app.register(async (scope) => {
    // The handlers read the request themselves (req.raw), whatever its content type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null))

    scope.get('/v1/images', async (req) => {
      await mayRead(req)
      return { images: await store().list() }
    })

    scope.head<{ Params: { file: string } }>('/v1/images/files/:file', async (req, reply) => {
      const { sha256, ext } = parseFileName(req.params.file)
      await mayRead(req)
      return reply.code((await store().exists(sha256, ext)) ? 200 : 404).send()
    })

    scope.put<{ Params: { file: string } }>('/v1/images/files/:file', async (req, reply) => {
      const { sha256, ext } = parseFileName(req.params.file)
      await mayWrite(req)
      const stored = await store().putFile(sha256, ext, req.raw)
      return reply.code(stored.uploaded ? 201 : 200).send(stored)
    })

    scope.put<{ Params: { sha256: string } }>('/v1/images/:sha256', async (req, reply) => {
      const { sha256 } = req.params
      if (!SHA256.test(sha256))
        throw badRequest(
          `expected the manifest's sha256 (64 lower-case hexadecimal characters), got ${JSON.stringify(sha256).slice(0, 100)}`,
        )
      await mayWrite(req)
      const stored = await store().putManifest(sha256, await readBody(req, MAX_MANIFEST_BYTES))
      return reply.code(stored.uploaded ? 201 : 200).send(stored)
    })
  })
}
