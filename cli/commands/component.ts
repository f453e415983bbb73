// `leanctl component push <file.wasm>`: a component of one's own, checked
// locally, then uploaded through the controller (which holds the S3 keys and
// checks it again) to s3://artifacts/components/<sha256>.wasm, where the wasm
// driver fetches it. Idempotent: a component the controller already has is
// not sent again. Prints an app document naming it, to apply.
import type { ControllerClient } from '../controller-client.ts'
import { readComponentFile, type ComponentFile } from '../component-file.ts'
import { formatBytes } from '../vm-format.ts'
import type { ApiContext } from './vm.ts'

export interface Pushed {
  readonly sha256: string
  /** False when the controller had it already. */
  readonly uploaded: boolean
  /** One line saying what happened, for the caller to print. */
  readonly line: string
}

/** HEAD first; PUT the bytes that were inspected only when the component is not stored yet. */
export async function pushComponent(controller: ControllerClient, component: ComponentFile): Promise<Pushed> {
  const { file, bytes, sha256 } = component
  const url = `/v1/components/${sha256}`
  const stored = (await controller.call('HEAD', url, { accept: [404] })).status === 200
  if (!stored) await controller.call('PUT', url, { raw: bytes })
  const what = stored ? 'already stored as' : 'uploaded to'
  return { sha256, uploaded: !stored, line: `${file}: sha256 ${sha256}, ${formatBytes(bytes.length)}, ${what} components/${sha256}.wasm` }
}

/** The smallest wasm-service document that runs the component: one instance, checked at /health. */
export function documentFor(sha256: string): unknown {
  return { kind: 'wasm-service', component: { sha256 }, count: 1 }
}

/** What it did on stderr; the document on stdout, so `leanctl component push x.wasm > x.json` saves it. */
export async function componentPush(ctx: ApiContext, file: string): Promise<number> {
  const pushed = await pushComponent(ctx.controller, await readComponentFile(file))
  ctx.io.err(`${pushed.line}\n`)
  ctx.io.out(`${JSON.stringify(documentFor(pushed.sha256), null, 2)}\n`)
  return 0
}
