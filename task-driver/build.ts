// Builds the task drivers into dist/task-driver: the wasm and virt plugins as
// ESM bundles (npm packages stay external), the .proto files beside them, and the `wasm` and
// `virt` launchers Nomad executes.
//
//   npm run build:driver
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = path.dirname(fileURLToPath(import.meta.url))
export const driverDist = path.resolve(here, '..', 'dist', 'task-driver')

export async function buildDriver(outdir = driverDist): Promise<string> {
  await rm(outdir, { recursive: true, force: true })
  await build({
    entryPoints: {
      plugin: path.join(here, 'wasm', 'main.ts'),
      'virt-plugin': path.join(here, 'virt', 'main.ts'),
    },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    // Dynamic imports become chunks loaded on first use (the S3 client costs
    // about 300 ms to load). Chunks sit beside the entry points.
    splitting: true,
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    logLevel: 'warning',
  })
  await mkdir(outdir, { recursive: true })
  for (const file of await readdir(path.join(here, 'kit', 'proto'))) {
    if (file.endsWith('.proto')) await copyFile(path.join(here, 'kit', 'proto', file), path.join(outdir, file))
  }
  // Nomad execs plugin_dir/<name> directly: an absolute node path, since the
  // agent's PATH (under an init system) may not contain node.
  for (const [name, bundle] of [
    ['virt', 'virt-plugin.mjs'],
    ['wasm', 'plugin.mjs'],
  ] as const) {
    const launcher = path.join(outdir, name)
    await writeFile(
      launcher,
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(outdir, bundle))} "$@"\n`,
    )
    await chmod(launcher, 0o755)
  }
  return path.join(outdir, 'wasm')
}

/** The `virt` launcher beside the `wasm` one that buildDriver returns. */
export const virtLauncher = (wasmLauncher: string) => path.join(path.dirname(wasmLauncher), 'virt')

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await buildDriver()}`)
}
