// Writing files the cloud owns without ever leaving one half-written.
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Writes a sibling `.partial` file, then renames it over `file`. */
export async function writeFileAtomic(file: string, contents: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  const partial = `${file}.partial`
  await writeFile(partial, contents, { mode })
  await rename(partial, file)
}
