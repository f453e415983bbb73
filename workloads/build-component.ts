// Builds one workload into a WebAssembly component with the pinned toolchain
// in workloads/toolchain, and prints its size and sha256 digest.
//
//   tsx workloads/build-component.ts hello
//
// The WASI WIT packages are taken from the pinned jco's own copy at build
// time (linked into a scratch wit/deps folder), never copied into the repo.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'

const run = promisify(execFile)
const here = path.dirname(fileURLToPath(import.meta.url))
const toolchain = path.join(here, 'toolchain')
const wasiWit = path.join(toolchain, 'node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12')
/** The wasm host's own interfaces (lean:text/fonts), for worlds that import them. */
const hostWit = path.resolve(here, '../task-driver/engine/wit')

export interface BuiltComponent {
  readonly name: string
  readonly file: string
  readonly bytes: number
  readonly sha256: string
}

/** Builds `<srcDir>/src/component.js` against `<srcDir>/wit` (srcDir defaults to workloads/<name>). */
export async function buildComponent(name: string, srcDir = path.join(here, name)): Promise<BuiltComponent> {
  const src = srcDir
  const scratch = path.join(here, 'dist', '.build', name)
  const out = path.join(here, 'dist', `${name}.wasm`)
  await rm(scratch, { recursive: true, force: true })
  await mkdir(path.join(scratch, 'wit', 'deps'), { recursive: true })
  await cp(path.join(src, 'wit'), path.join(scratch, 'wit'), { recursive: true })
  for (const dep of await readdir(wasiWit)) {
    await symlink(path.join(wasiWit, dep), path.join(scratch, 'wit', 'deps', dep))
  }
  for (const dep of await readdir(hostWit)) {
    await symlink(path.join(hostWit, dep), path.join(scratch, 'wit', 'deps', `lean-${dep}`))
  }
  // componentize-js itself (the pinned 0.23.0), not `jco componentize`: jco
  // 1.35 brings its own nested componentize-js 0.22.0, whose generated guest
  // bindings run every export and import call through an emulated
  // component-model async task (several promises, closures and task objects
  // per call), which is most of a small handler's per-request cost.
  const componentizeCli = path.join(toolchain, 'node_modules/@bytecodealliance/componentize-js/src/cli.js')
  // One ES module for componentize: npm packages (hono, pdf-lib, jco-std
  // adapters) resolve from the toolchain; wasi:* and lean:* stay imports.
  const entry = path.join(scratch, 'bundle.js')
  await build({
    entryPoints: [path.join(src, 'src', 'component.js')],
    outfile: entry,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['browser', 'module', 'main'],
    nodePaths: [path.join(toolchain, 'node_modules')],
    external: ['wasi:*', 'lean:*'],
    logLevel: 'warning',
  })
  try {
    // Run from the scratch folder: componentize-js bakes paths relative to
    // the working directory into the component (as jco did, which changed to
    // the source's folder).
    await run(process.execPath, [componentizeCli, path.basename(entry), '--wit', path.join(scratch, 'wit'), '-o', out], {
      cwd: scratch,
      maxBuffer: 64 << 20,
    })
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string }
    throw new Error(`building component ${name} failed:\n${e.stderr || e.stdout || String(err)}`)
  }
  const bytes = await readFile(out)
  return { name, file: out, bytes: (await stat(out)).size, sha256: createHash('sha256').update(bytes).digest('hex') }
}

async function sourceDigest(dirs: readonly string[], files: readonly string[]): Promise<string> {
  const hash = createHash('sha256')
  for (const dir of dirs) {
    for (const entry of (await readdir(dir)).sort()) hash.update(entry).update(await readFile(path.join(dir, entry)))
  }
  for (const file of files) hash.update(file).update(await readFile(file))
  return hash.digest('hex')
}

/**
 * Builds `<srcDir>/{src,wit}` (plus `alsoReads` folders) only when they, this
 * build script or the toolchain's lock changed since the last build; else the
 * component already in workloads/dist. Builds are not reproducible (the
 * pre-initialised heap differs from run to run), so rebuilding unchanged
 * sources would give a new digest, and a running app a needless new version.
 */
export async function buildComponentIfChanged(name: string, srcDir = path.join(here, name), alsoReads: readonly string[] = []): Promise<BuiltComponent & { readonly rebuilt: boolean }> {
  const out = path.join(here, 'dist', `${name}.wasm`)
  const stamp = path.join(here, 'dist', `${name}.source-sha256`)
  const wanted = await sourceDigest(
    [path.join(srcDir, 'src'), path.join(srcDir, 'wit'), ...alsoReads, path.join(hostWit, 'text')],
    [fileURLToPath(import.meta.url), path.join(toolchain, 'package-lock.json')],
  )
  const have = await readFile(stamp, 'utf8').catch(() => '')
  const bytes = have === wanted ? await readFile(out).catch(() => undefined) : undefined
  if (bytes) return { name, file: out, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), rebuilt: false }
  const built = await buildComponent(name, srcDir)
  await writeFile(stamp, wanted)
  return { ...built, rebuilt: true }
}

/** The shared guest code the PDF and email components import. */
export const sharedGuestCode = path.join(here, 'shared')

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of process.argv.slice(2)) {
    const started = Date.now()
    const built = await buildComponent(name)
    console.log(`${built.name}: ${built.file} ${(built.bytes / 1e6).toFixed(1)} MB sha256:${built.sha256} (${Date.now() - started} ms)`)
  }
}
