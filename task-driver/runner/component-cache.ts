// Gets a component, checks its digest, and turns it into JS glue plus core
// modules with jco's transpiler, cached on the client by sha256: the second
// start of the same component reads the cache and skips transpiling.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { DriverError } from '../errors.ts'
import { COMPONENT_MAX_BYTES_LIMIT, fetchComponent, type ComponentAccess, type ComponentSources, type S3Access } from './fetch-component.ts'

export interface PreparedComponent {
  readonly dir: string
  /** The generated module exporting `instantiate(getCoreModule, imports)`. */
  readonly glue: string
  /** Core module file names, as the glue asks for them. */
  readonly coreModules: readonly string[]
  readonly cached: boolean
}

interface Manifest {
  readonly sha256: string
  readonly coreModules: string[]
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest
  } catch {
    return undefined
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * The component's bytes from its source, refused unless their sha256 is the
 * task config's. The refusal names neither the digest nor the size of what
 * was read: a source must not become a way to learn about a file.
 */
export async function fetchVerifiedComponent(source: string, sha256: string, access: ComponentAccess): Promise<Uint8Array> {
  const bytes = await fetchComponent(source, sha256, access)
  if (sha256Hex(bytes) !== sha256) {
    throw new DriverError('LEAN_ERR_COMPONENT_DIGEST', `component ${source}: its sha256 is not the one the task config names (${sha256}); refusing to run it`)
  }
  return bytes
}

/**
 * The plugin hands the runner (the node engine) a component it has fetched
 * and verified into `<cacheDir>/components`: that directory and the artifacts
 * object are all the runner may read, unless `sources` says otherwise.
 */
export const runnerSources = (cacheDir: string): ComponentSources => ({
  paths: [path.join(cacheDir, 'components')],
  hosts: [],
  // The plugin held it to its own component_max_size already.
  maxBytes: COMPONENT_MAX_BYTES_LIMIT,
})

export async function prepareComponent(source: string, sha256: string, cacheDir: string, s3?: S3Access, sources: ComponentSources = runnerSources(cacheDir)): Promise<PreparedComponent> {
  const dir = path.join(cacheDir, sha256)
  const glue = path.join(dir, 'component.js')
  const cached = await readManifest(dir)
  if (cached && cached.sha256 === sha256) return { dir, glue, coreModules: cached.coreModules, cached: true }

  const bytes = await fetchVerifiedComponent(source, sha256, { ...sources, ...(s3 && { s3 }) })
  let files: Record<string, Uint8Array>
  try {
    // Loaded only on a cache miss: the transpiler is large, and start-up time counts.
    const { transpileBytes } = await import('@bytecodealliance/jco-transpile')
    files = (await transpileBytes(bytes, { name: 'component', instantiation: 'async', validLiftingOptimization: true })).files
  } catch (err) {
    throw new DriverError('LEAN_ERR_COMPONENT_COMPILE', `component ${source} is not a valid WebAssembly component: ${(err as Error).message}`)
  }
  // Write into a private scratch dir and rename, so a crash or a concurrent
  // start never leaves a half-written cache entry.
  const scratch = `${dir}.partial-${process.pid}`
  await rm(scratch, { recursive: true, force: true })
  await mkdir(scratch, { recursive: true })
  const coreModules: string[] = []
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('.d.ts')) continue
    await writeFile(path.join(scratch, name), data)
    if (name.endsWith('.wasm')) coreModules.push(name)
  }
  // The glue is ESM; make the folder say so regardless of where the cache lives.
  await writeFile(path.join(scratch, 'package.json'), '{"type":"module"}\n')
  await writeFile(path.join(scratch, 'manifest.json'), JSON.stringify({ sha256, coreModules } satisfies Manifest))
  try {
    await rename(scratch, dir)
  } catch (err) {
    // Another runner won the race: use its entry.
    await rm(scratch, { recursive: true, force: true })
    if (!(await stat(dir).catch(() => undefined))) throw err
  }
  return { dir, glue, coreModules, cached: false }
}

/** Compiles every core module once; the Modules are shared with all instance workers. */
export async function compileCoreModules(component: PreparedComponent): Promise<Map<string, WebAssembly.Module>> {
  const modules = new Map<string, WebAssembly.Module>()
  for (const name of component.coreModules) {
    modules.set(name, await WebAssembly.compile(await readFile(path.join(component.dir, name))))
  }
  return modules
}
