// Builds examples/rust-hello into a wasi:http component (see rust-component.ts).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printProgress, type Progress } from './build-step.ts'
import type { BuiltComponent } from './component-cache.ts'
import { buildRustComponent } from './rust-component.ts'

export { RUST_TARGET } from './rust-component.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const RUST_EXAMPLE = path.join(repo, 'examples', 'rust-hello')

export function buildRustHello(progress: Progress = printProgress): Promise<BuiltComponent> {
  return buildRustComponent(
    {
      name: 'rust-hello',
      dir: RUST_EXAMPLE,
      output: 'rust_hello.wasm',
      scripts: [fileURLToPath(import.meta.url)],
    },
    progress,
  )
}
