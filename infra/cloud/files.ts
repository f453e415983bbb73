// Writing files the cloud owns without ever leaving one half-written.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Writes a sibling `.partial` file, then renames it over `file`. */
export async function writeFileAtomic(file: string, contents: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  const partial = `${file}.partial`
  await writeFile(partial, contents, { mode })
  await rename(partial, file)
}

/** A text file's contents, or undefined when it does not exist (any other error is thrown). */
export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
