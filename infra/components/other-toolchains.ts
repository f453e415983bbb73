// `npm run build:examples`: builds the example components of other
// toolchains (examples/rust-hello with cargo, examples/python-hello with
// componentize-py), each once per change of its sources or pinned tools,
// into ${LEAN_CLOUD_CACHE:-~/.cache/lean-cloud}/components/, and prints each
// file, size and digest.
import { stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { MissingToolError } from './build-step.ts'
import type { BuiltComponent } from './component-cache.ts'
import { buildPythonHello } from './python-example.ts'
import { buildRustHello } from './rust-example.ts'

export { buildPythonHello } from './python-example.ts'
export { buildRustHello } from './rust-example.ts'
export type { BuiltComponent } from './component-cache.ts'

export const EXAMPLES: Record<string, () => Promise<BuiltComponent>> = {
  'rust-hello': buildRustHello,
  'python-hello': buildPythonHello,
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    for (const [name, build] of Object.entries(EXAMPLES)) {
      const started = Date.now()
      const built = await build()
      const size = (await stat(built.file)).size
      console.log(
        `${name}: ${built.file}  ${(size / 2 ** 20).toFixed(1)} MiB  sha256:${built.sha256}  (${Date.now() - started} ms)`,
      )
    }
  } catch (err) {
    // A missing tool is said in one line; anything else with its details.
    console.error(err instanceof MissingToolError ? `build:examples: ${err.message}` : err)
    process.exitCode = 1
  }
}
