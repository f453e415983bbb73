// Debian packages for the tiny image: resolving a package's candidate
// version, downloading the exact .deb (or taking it from apt's own cache),
// and unpacking it. apt-get verifies what it downloads against the signed
// package lists; we record each .deb's sha256 in the pins and the manifest.
import { access, copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { sha256File } from '../../ground/digest.ts'
import { ImageError } from './errors.ts'
import type { ImagePaths } from './paths.ts'
import { run } from './run.ts'

/** The `Candidate:` version of `apt-cache policy <pkg>` output, or undefined for "(none)". */
export function parsePolicyCandidate(text: string): string | undefined {
  const m = /^\s*Candidate:\s*(\S+)\s*$/m.exec(text)
  return m && m[1] !== '(none)' ? m[1] : undefined
}

/**
 * The package a metapackage stands for: the first `Depends:` entry of
 * `apt-cache show pkg=version` whose name matches `pattern`, and its exact version if pinned with `(= v)`.
 */
export function parseDependency(
  showText: string,
  pattern: RegExp,
): { name: string; version?: string } | undefined {
  const depends = /^Depends:\s*(.+)$/m.exec(showText)?.[1] ?? ''
  for (const alternative of depends.split(/[,|]/)) {
    const m = /^\s*([a-z0-9][a-z0-9+.-]*)(?::\S+)?\s*(?:\(\s*=\s*([^)\s]+)\s*\))?\s*$/.exec(alternative)
    if (m && pattern.test(m[1]!)) return m[2] ? { name: m[1]!, version: m[2] } : { name: m[1]! }
  }
  return undefined
}

/** apt's file name for a .deb: `name_version_arch.deb` with the epoch's colon written %3a. */
export function debFileName(name: string, version: string, arch = 'amd64'): string {
  return `${name}_${version.replace(':', '%3a')}_${arch}.deb`
}

const APT_HINT = 'run `apt-get update` (as root) so apt knows the current Debian packages'

export async function candidateVersion(pkg: string): Promise<string> {
  const version = parsePolicyCandidate(await run('apt-cache', ['policy', pkg]))
  if (!version) throw new ImageError(`apt knows no version of the Debian package ${pkg}: ${APT_HINT}`)
  return version
}

export async function dependencyOf(
  pkg: string,
  version: string,
  pattern: RegExp,
): Promise<{ name: string; version: string }> {
  const dep = parseDependency(await run('apt-cache', ['show', `${pkg}=${version}`]), pattern)
  if (!dep)
    throw new ImageError(
      `${pkg} ${version} depends on no package matching ${pattern}: cannot tell which package it stands for`,
    )
  return { name: dep.name, version: dep.version ?? (await candidateVersion(dep.name)) }
}

export interface Deb {
  readonly name: string
  readonly version: string
  readonly file: string
  readonly sha256: string
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  )

/**
 * The .deb of `name` at exactly `version`: from our cache, else apt's
 * archive cache, else downloaded with `apt-get download`. With `sha256`
 * given (from the pins), a file of another digest is an error.
 */
export async function fetchDeb(
  paths: ImagePaths,
  name: string,
  version: string,
  sha256?: string,
): Promise<Deb> {
  await mkdir(paths.debs, { recursive: true })
  const fileName = debFileName(name, version)
  const file = path.join(paths.debs, fileName)
  if (!(await exists(file))) {
    const aptCached = path.join('/var/cache/apt/archives', fileName)
    if (await exists(aptCached)) {
      await copyFile(aptCached, file + '.part')
    } else {
      console.log(`  downloading ${name} ${version}`)
      // apt-get download writes into its working directory; a scratch one keeps half-written files out of the cache.
      const scratch = path.join(paths.debs, '.download')
      await rm(scratch, { recursive: true, force: true })
      await mkdir(scratch, { recursive: true })
      try {
        await run('apt-get', ['download', '-q', `${name}=${version}`], { cwd: scratch })
      } catch (err) {
        throw new ImageError(
          `cannot download the Debian package ${name} at version ${version}: ${APT_HINT}; if Debian no longer serves that version, ` +
            'resolve new versions with `npm run build:images -- --update-pins`',
          { cause: err },
        )
      }
      const [got] = await readdir(scratch)
      if (!got) throw new ImageError(`apt-get download ${name}=${version} wrote no file`)
      await rename(path.join(scratch, got), file + '.part')
      await rm(scratch, { recursive: true, force: true })
    }
    await rename(file + '.part', file)
  }
  const digest = (await sha256File(file)).sha256
  if (sha256 && digest !== sha256) {
    throw new ImageError(
      `${file} has sha256 ${digest}, but infra/images/pins.json pins ${sha256}: delete the file to download it again, or run --update-pins`,
    )
  }
  return { name, version, file, sha256: digest }
}

/** Unpacks a .deb once (by its digest) and returns the directory holding its files. */
export async function unpackDeb(paths: ImagePaths, deb: Deb): Promise<string> {
  const dir = path.join(paths.unpacked, deb.sha256)
  const done = path.join(dir, '.unpacked')
  if (await exists(done)) return dir
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  await run('dpkg-deb', ['-x', deb.file, dir])
  await writeFile(done, `${deb.name} ${deb.version}\n`)
  return dir
}
