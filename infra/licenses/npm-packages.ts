// The npm packages of the project's lock files (lockfileVersion 2 or 3: the
// `packages` map), with their declared licences.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { LicenseError } from './errors.ts'
import type { Component } from './policy.ts'

export interface LockEntry {
  /** The key in `packages`, e.g. `node_modules/a/node_modules/b`: where npm installs it, relative to the lock. */
  installPath: string
  name: string
  version: string
  /** The `license` the lock recorded, when it did. */
  licence?: string
}

/** `license` as a string, `{ type }` (old package.json), or the legacy `licenses` array (alternatives). */
export function licenceFromManifest(manifest: unknown): string | undefined {
  if (typeof manifest !== 'object' || manifest === null) return undefined
  const m = manifest as { license?: unknown; licenses?: unknown }
  const one = (v: unknown): string | undefined => {
    if (typeof v === 'string' && v.trim() !== '') return v.trim()
    if (typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string') {
      return (v as { type: string }).type
    }
    return undefined
  }
  const single = one(m.license)
  if (single !== undefined) return single
  if (!Array.isArray(m.licenses)) return undefined
  const many = m.licenses.map(one).filter((v): v is string => v !== undefined)
  if (many.length === 0) return undefined
  return many.length === 1 ? many[0] : `(${many.join(' OR ')})`
}

/** The installed packages a lock lists; `lockName` names the lock in errors. Skips the root and workspace links. */
export function entriesFromLock(lock: unknown, lockName: string): LockEntry[] {
  const l = lock as { lockfileVersion?: unknown; packages?: unknown }
  if (typeof l !== 'object' || l === null || typeof l.packages !== 'object' || l.packages === null) {
    throw new LicenseError(
      'LEAN_ERR_LICENSE_INPUT',
      `${lockName}: no "packages" map (lockfileVersion 2 or 3 expected)`,
    )
  }
  const entries: LockEntry[] = []
  for (const [installPath, raw] of Object.entries(l.packages as Record<string, unknown>)) {
    if (installPath === '') continue
    const e = (raw ?? {}) as { name?: unknown; version?: unknown; link?: unknown }
    if (e.link === true) continue // a symlink to a workspace folder, listed under its own key
    // An aliased install (`"x-old": "npm:x@1"`) sits at node_modules/x-old but records its real name.
    const name =
      typeof e.name === 'string' ? e.name : installPath.slice(installPath.lastIndexOf('node_modules/') + 13)
    if (typeof e.version !== 'string') {
      throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `${lockName}: "${installPath}" has no version`)
    }
    const licence = licenceFromManifest(raw)
    entries.push({ installPath, name, version: e.version, ...(licence === undefined ? {} : { licence }) })
  }
  return entries
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8')) as unknown
}

/**
 * Every package of the given locks (paths relative to `repoDir`), once per
 * name@version. A licence missing from the lock is read from the installed
 * package.json next to it; when that is missing too the licence is `unknown`.
 */
export async function readNpmPackages(repoDir: string, lockFiles: readonly string[]): Promise<Component[]> {
  const byKey = new Map<string, Component>()
  /** Keys whose licence has been found; the others may still find it in a later lock's entry. */
  const resolved = new Set<string>()
  for (const lockFile of lockFiles) {
    const lockPath = path.join(repoDir, lockFile)
    let lock: unknown
    try {
      lock = await readJson(lockPath)
    } catch (err) {
      throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `cannot read ${lockFile}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    for (const entry of entriesFromLock(lock, lockFile)) {
      const key = `${entry.name}@${entry.version}`
      let known = byKey.get(key)
      if (known === undefined) {
        known = {
          ecosystem: 'npm',
          name: entry.name,
          version: entry.version,
          licence: 'unknown',
          licenceSource: '',
          usedBy: [],
        }
        byKey.set(key, known)
      }
      if (!known.usedBy.includes(lockFile)) known.usedBy.push(lockFile)
      if (resolved.has(key)) continue
      if (entry.licence !== undefined) {
        Object.assign(known, { licence: entry.licence, licenceSource: lockFile })
        resolved.add(key)
        continue
      }
      const manifest = path.join(path.dirname(lockFile), entry.installPath, 'package.json')
      const installed = await readJson(path.join(repoDir, manifest)).catch(() => undefined)
      const licence = licenceFromManifest(installed)
      if (licence !== undefined) {
        Object.assign(known, { licence, licenceSource: manifest })
        resolved.add(key)
      } else {
        known.licenceSource =
          installed === undefined
            ? `not in ${lockFile}; ${manifest} not installed (run npm install, then check again)`
            : `neither ${lockFile} nor ${manifest} declares one`
      }
    }
  }
  return [...byKey.values()]
}
