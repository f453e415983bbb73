// Builds the task driver into dist/task-driver: the plugin, the per-task
// runner and the instance worker as ESM bundles (npm packages stay external),
// the .proto files beside them, and the `wasm` launcher Nomad executes.
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
      plugin: path.join(here, 'main.ts'),
      runner: path.join(here, 'runner', 'main.ts'),
      'instance-worker': path.join(here, 'runner', 'instance-worker.ts'),
    },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    // Dynamic imports become chunks loaded on first use (the S3 client costs
    // about 300 ms to load, and a task start waits for the runner to load).
    // Chunks sit beside the entry points, so relative URLs (the worker) still resolve.
    splitting: true,
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    logLevel: 'warning',
  })
  await mkdir(outdir, { recursive: true })
  for (const file of await readdir(path.join(here, 'proto'))) {
    if (file.endsWith('.proto')) await copyFile(path.join(here, 'proto', file), path.join(outdir, file))
  }
  // Nomad execs plugin_dir/wasm directly: an absolute node path, since the
  // agent's PATH (under an init system) may not contain node.
  const launcher = path.join(outdir, 'wasm')
  await writeFile(launcher, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(outdir, 'plugin.mjs'))} "$@"\n`)
  await chmod(launcher, 0o755)
  return launcher
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await buildDriver()}`)
}
