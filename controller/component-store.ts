// Components in S3, for the upload API: `components/<sha256>.wasm` in the
// `artifacts` bucket, where the wasm driver fetches a document's component
// from by default. As with images (image-store.ts), nothing unverified is
// ever stored: the body is hashed into a temporary file first, and put under
// its key only when its sha256 is the one it is named by, it is no larger than
// the limit, and the inspection passes (a component, not a core module, that
// exports wasi:http/incoming-handler and imports only what the engine
// provides). An S3 PUT is atomic, so a refused or broken upload is never seen
// under the key.
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { checkServiceComponent } from '../ground/component-check.ts'
import { ComponentInspectError } from '../ground/component-inspect.ts'
import { digestingStream } from '../ground/digest.ts'
import { componentObjectKey } from '../task-driver/wasm/component-source.ts'
import { ApiError, backend } from './api-errors.ts'
import type { ObjectStore } from './object-store.ts'

/** What an upload may be; the controller's configuration (LEAN_COMPONENT_MAX_SIZE). */
export interface ComponentLimits {
  /** The largest component taken, in bytes: a longer body is cut off and refused. */
  readonly maxBytes: number
}

export const DEFAULT_COMPONENT_LIMITS: ComponentLimits = { maxBytes: 64 * 1024 ** 2 }

export interface StoredComponent {
  readonly key: string
  readonly sha256: string
  readonly size: number
  /** False when the object was there already (same key, same digest, same bytes). */
  readonly uploaded: boolean
  /** The component's top-level import and export names, as inspected. */
  readonly imports: readonly string[]
  readonly exports: readonly string[]
}

/** 413 naming the limit and its variable. */
export function componentTooLarge(maxBytes: number): ApiError {
  return new ApiError(
    413,
    'LEAN_ERR_COMPONENT_TOO_LARGE',
    `the component is larger than the ${maxBytes} bytes an upload may be (LEAN_COMPONENT_MAX_SIZE); nothing was stored`,
    'body',
    `larger than ${maxBytes} bytes (LEAN_COMPONENT_MAX_SIZE)`,
  )
}

/** The inspection's refusal as the API's error: 400 with its code, one line per problem. */
function refused(sha256: string, err: ComponentInspectError): ApiError {
  const reason = err.problems.join('\n')
  return new ApiError(400, err.code, `component ${sha256} is refused; nothing was stored:\n${reason}`, 'body', reason)
}

/** The client went away mid-body: its problem, not the controller's (no error logged). */
const cutOff = (err: unknown) =>
  !(err instanceof ApiError) && ['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE'].includes((err as { code?: string }).code ?? '')

export class ComponentStore {
  constructor(
    private readonly store: ObjectStore,
    /** Where uploads are hashed before they are stored. */
    private readonly scratch: string = tmpdir(),
    readonly limits: ComponentLimits = DEFAULT_COMPONENT_LIMITS,
  ) {}

  async exists(sha256: string): Promise<boolean> {
    return backend('S3', () => this.store.exists(componentObjectKey(sha256)))
  }

  /** Hashes the body into a temporary file; stores it only if its sha256 is `sha256` and the inspection passes. */
  async put(sha256: string, body: Readable): Promise<StoredComponent> {
    // A client that goes away before the pipeline below listens must not be an uncaught error;
    // the pipeline still sees it (the stream is left errored) and refuses the upload.
    body.on('error', () => {})
    const dir = await mkdtemp(path.join(this.scratch, 'lean-component-upload-'))
    try {
      const file = path.join(dir, 'upload.wasm')
      const hashing = digestingStream(this.limits.maxBytes, () => componentTooLarge(this.limits.maxBytes))
      await pipeline(body, hashing.stream, createWriteStream(file)).catch((err: unknown) => {
        throw cutOff(err) ? new ApiError(400, 'LEAN_ERR_API_REQUEST', 'the body was cut off; nothing was stored', 'body', 'cut off') : err
      })
      const { sha256: actual, size } = hashing.result()
      if (actual !== sha256)
        throw new ApiError(
          400,
          'LEAN_ERR_COMPONENT_DIGEST',
          `the body's sha256 is ${actual} (${size} bytes), not ${sha256}; nothing was stored`,
          'sha256',
          `the body's sha256 is ${actual}`,
        )
      if (size === 0) throw new ApiError(400, 'LEAN_ERR_API_REQUEST', 'the body is empty; nothing was stored', 'body', 'empty')
      let inspected
      try {
        // At most the size limit (64 MiB by default) in memory, once per upload.
        inspected = checkServiceComponent(await readFile(file))
      } catch (err) {
        if (err instanceof ComponentInspectError) throw refused(sha256, err)
        throw err
      }
      const key = componentObjectKey(sha256)
      const names = { imports: inspected.imports.map((i) => i.name), exports: inspected.exports.map((e) => e.name) }
      if (await this.exists(sha256)) return { key, sha256, size, uploaded: false, ...names }
      await backend('S3', () =>
        this.store.putFile(key, file, { 'Content-Type': 'application/wasm', 'x-amz-meta-sha256': sha256 }),
      )
      return { key, sha256, size, uploaded: true, ...names }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
