// Reads a component from a local file, only inside the wasm plugin's
// component_paths (as the virt driver's image_paths): the path is resolved
// through symlinks before the check, and the file opened is checked again.
// What lies outside the allow-list is never opened, and the errors say nothing
// about it: a path outside is refused the same whether it exists or not, and
// a link inside that leads outside reads exactly like a file that is not there.
import { constants } from 'node:fs'
import { open, readlink, realpath } from 'node:fs/promises'
import path from 'node:path'
import { DriverError } from '../kit/errors.ts'
import { readCapped, tooLarge } from './read-capped.ts'

const inside = (file: string, dir: string): boolean =>
  file !== dir && file.startsWith(dir.endsWith('/') ? dir : `${dir}/`)

/** Each allowed directory as written and as resolved through symlinks. */
async function roots(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const dir of dirs) {
    out.push(path.resolve(dir))
    const real = await realpath(dir).catch(() => undefined)
    if (real !== undefined) out.push(real)
  }
  return out
}

interface Placement {
  /** The path as written lies inside an allowed directory. */
  readonly named: boolean
  /** The file it resolves to (through symlinks), if it resolves inside. */
  readonly real?: string
  readonly within: (p: string) => boolean
}

async function place(file: string, dirs: readonly string[]): Promise<Placement> {
  const allowed = await roots(dirs)
  const within = (p: string) => allowed.some((dir) => inside(p, dir))
  const real = await realpath(file).catch(() => undefined)
  return { named: within(path.resolve(file)), within, ...(real !== undefined && within(real) && { real }) }
}

function outside(file: string, dirs: readonly string[]): DriverError {
  return new DriverError(
    'LEAN_ERR_COMPONENT_SOURCE',
    `component ${file} is outside the directories the wasm plugin allows (component_paths: ${dirs.join(', ') || 'none configured'})`,
  )
}

/**
 * Refuses `file` unless it lies inside one of `dirs`, as written or resolved
 * through symlinks. The refusal is the same whether the file exists or not.
 */
export async function checkListedPath(file: string, dirs: readonly string[]): Promise<void> {
  const { named, real } = await place(file, dirs)
  if (!named && real === undefined) throw outside(file, dirs)
}

/** The bytes of `file`, an absolute path that must resolve to a file inside one of `dirs`. */
export async function readLocalComponent(
  file: string,
  dirs: readonly string[],
  maxBytes: number,
): Promise<Buffer> {
  const { named, real, within } = await place(file, dirs)
  // Named inside but not a file inside: missing, or a link that leads out.
  // Both read the same, so nothing is learned about what lies outside.
  const missing = () =>
    new DriverError(
      'LEAN_ERR_COMPONENT_FETCH',
      `cannot fetch component ${file}: no such file inside the wasm plugin's component_paths (${dirs.join(', ')})`,
    )
  if (real === undefined) throw named ? missing() : outside(file, dirs)
  // O_NOFOLLOW: a link put in the resolved path's place meanwhile is not
  // followed; O_NONBLOCK: a FIFO cannot hold the open.
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    () => {
      throw missing()
    },
  )
  try {
    // The file actually opened (a directory of the path swapped for a link meanwhile shows here).
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real)
    if (!within(opened)) throw missing()
    const stat = await handle.stat()
    if (!stat.isFile())
      throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `cannot fetch component ${file}: not a regular file`)
    if (stat.size > maxBytes) throw tooLarge(`component ${file}`, maxBytes)
    return await readCapped(
      handle.createReadStream({ autoClose: false, start: 0 }),
      maxBytes,
      `component ${file}`,
    )
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw new DriverError(
      'LEAN_ERR_COMPONENT_FETCH',
      `cannot fetch component ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  } finally {
    await handle.close().catch(() => {})
  }
}
