// Builds test/fixtures/http-semantics, the component whose routes exercise a
// host's HTTP semantics (streaming, trailers, failures, statuses, large
// bodies), the same way as examples/rust-hello and into the same cache.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printProgress, type Progress } from './build-step.ts'
import type { BuiltComponent } from './component-cache.ts'
import { buildRustComponent } from './rust-component.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const HTTP_SEMANTICS_FIXTURE = path.join(repo, 'test', 'fixtures', 'http-semantics')

export function buildHttpSemantics(progress: Progress = printProgress): Promise<BuiltComponent> {
  return buildRustComponent(
    {
      name: 'http-semantics',
      dir: HTTP_SEMANTICS_FIXTURE,
      output: 'http_semantics.wasm',
      scripts: [fileURLToPath(import.meta.url)],
    },
    progress,
  )
}
