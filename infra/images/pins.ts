// The exact Debian packages the tiny image is built from, pinned in
// infra/images/pins.json (version and .deb digest), so a build is repeatable
// and its cache key is known without asking apt. The first build, or
// `--update-pins`, resolves the current versions and writes the file.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readTextIfExists, writeFileAtomic } from '../cloud/files.ts'
import { candidateVersion, dependencyOf, fetchDeb, type Deb } from './debs.ts'
import { ImageError } from './errors.ts'
import type { ImagePaths } from './paths.ts'

export const PINS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pins.json')

export interface Pin {
  readonly name: string
  readonly version: string
  readonly sha256: string
  /** The metapackage the pin was resolved from (linux-image-cloud-amd64 names the current kernel). */
  readonly from?: string
}

export interface TinyPins {
  readonly kernel: Pin
  readonly busybox: Pin
}

/** What each pin is resolved from. */
const SOURCES = {
  // The metapackage moves to each new kernel ABI; we pin the concrete package it names.
  kernel: { meta: 'linux-image-cloud-amd64', pattern: /^linux-image-\d.*-cloud-amd64$/ },
  busybox: { package: 'busybox-static' },
} as const

export function parsePins(text: string): TinyPins {
  const value = JSON.parse(text) as Partial<Record<keyof TinyPins, Partial<Pin>>>
  const pin = (role: keyof TinyPins): Pin => {
    const p = value[role]
    if (
      !p ||
      typeof p.name !== 'string' ||
      typeof p.version !== 'string' ||
      typeof p.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(p.sha256)
    ) {
      throw new Error(`pins.json: '${role}' must have a name, a version and the .deb's sha256`)
    }
    return {
      name: p.name,
      version: p.version,
      sha256: p.sha256,
      ...(typeof p.from === 'string' ? { from: p.from } : {}),
    }
  }
  return { kernel: pin('kernel'), busybox: pin('busybox') }
}

export async function readPins(file = PINS_FILE): Promise<TinyPins | undefined> {
  const text = await readTextIfExists(file)
  if (text === undefined) return undefined
  try {
    return parsePins(text)
  } catch (err) {
    throw new ImageError(
      `${file} is not valid (${(err as Error).message}): fix it, or delete it and run \`npm run build:images -- --update-pins\``,
    )
  }
}

/** Resolves the candidate versions apt knows now, downloads them, and writes pins.json. */
export async function updatePins(paths: ImagePaths, file = PINS_FILE): Promise<TinyPins> {
  console.log('  resolving the Debian packages of the tiny image with apt-cache')
  const metaVersion = await candidateVersion(SOURCES.kernel.meta)
  const kernel = await dependencyOf(SOURCES.kernel.meta, metaVersion, SOURCES.kernel.pattern)
  const busyboxVersion = await candidateVersion(SOURCES.busybox.package)
  const kernelDeb = await fetchDeb(paths, kernel.name, kernel.version)
  const busyboxDeb = await fetchDeb(paths, SOURCES.busybox.package, busyboxVersion)
  const pins: TinyPins = {
    kernel: { ...asPin(kernelDeb), from: SOURCES.kernel.meta },
    busybox: asPin(busyboxDeb),
  }
  await writeFileAtomic(file, JSON.stringify(pins, null, 2) + '\n')
  console.log(
    `  pinned ${pins.kernel.name} ${pins.kernel.version} and ${pins.busybox.name} ${pins.busybox.version} in ${path.relative(process.cwd(), file)}`,
  )
  return pins
}

function asPin(deb: Deb): Pin {
  return { name: deb.name, version: deb.version, sha256: deb.sha256 }
}
