// The cache of the example components, outside the repository:
// ${LEAN_CLOUD_CACHE:-~/.cache/lean-cloud}/components/<name>-<key>.wasm, where
// the key is a digest of everything the build reads (the example's sources,
// the pinned tool versions, the build script). A build whose key has a file
// there is not run again.
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

export interface BuiltComponent {
  readonly file: string
  readonly sha256: string
}

/** ${LEAN_CLOUD_CACHE:-~/.cache/lean-cloud}. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.LEAN_CLOUD_CACHE
    ? path.resolve(env.LEAN_CLOUD_CACHE)
    : path.join(os.homedir(), '.cache', 'lean-cloud')
}

export const componentsDir = (env: NodeJS.ProcessEnv = process.env): string =>
  path.join(cacheRoot(env), 'components')

/** Every file under `dir`, sorted, skipping build litter (__pycache__, target). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => path.join(e.parentPath, e.name))
    .filter(
      (f) =>
        !path
          .relative(dir, f)
          .split(path.sep)
          .some((part) => part === '__pycache__' || part === 'target'),
    )
    .sort()
}

/**
 * A digest of `files` (names relative to `root`, and contents) and of
 * `versions` (tool versions and the like): the build's cache key.
 */
export async function inputsKey(
  root: string,
  files: readonly string[],
  versions: readonly string[],
): Promise<string> {
  const hash = createHash('sha256')
  for (const v of versions) hash.update(`version ${v}\n`)
  for (const file of [...files].sort()) {
    hash.update(`file ${path.relative(root, file)}\n`).update(await readFile(file))
  }
  return hash.digest('hex').slice(0, 20)
}

const cachedFile = (name: string, key: string, env?: NodeJS.ProcessEnv): string =>
  path.join(componentsDir(env), `${name}-${key}.wasm`)

async function describe(file: string): Promise<BuiltComponent> {
  return {
    file,
    sha256: createHash('sha256')
      .update(await readFile(file))
      .digest('hex'),
  }
}

/** The component built from inputs `key`, if the cache has it. */
export async function cachedComponent(name: string, key: string): Promise<BuiltComponent | undefined> {
  const file = cachedFile(name, key)
  const present = await stat(file).then(
    (s) => s.isFile() && s.size > 0,
    () => false,
  )
  return present ? describe(file) : undefined
}

/** Copies a fresh build into the cache under `key` (atomically) and drops that example's older builds. */
export async function storeComponent(name: string, key: string, built: string): Promise<BuiltComponent> {
  const file = cachedFile(name, key)
  await mkdir(path.dirname(file), { recursive: true })
  const partial = `${file}.${process.pid}.partial`
  await copyFile(built, partial)
  await rename(partial, file)
  for (const entry of await readdir(path.dirname(file))) {
    if (entry.startsWith(`${name}-`) && entry.endsWith('.wasm') && entry !== path.basename(file)) {
      await rm(path.join(path.dirname(file), entry), { force: true })
    }
  }
  return describe(file)
}
