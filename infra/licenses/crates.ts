// The Rust crates compiled into the wasm engine host (task-driver/engine), and
// their licences. The list comes from `cargo tree` for the platform the cloud
// runs on, following normal and build dependencies only. Unlike `cargo
// metadata`, which reads every package of the lock file (those of other
// platforms too), `cargo tree --target` reads just the crates that platform
// compiles: exactly what the engine host's build downloaded, so the gate runs
// offline on a machine whose cargo cache holds only that build's crates.
// Each licence is the crate's Cargo.toml `license` (an SPDX expression) or,
// without one, its `license-file`.
import { readdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'
import { licenceExpressionOfText } from './classify.ts'
import { LicenseError } from './errors.ts'
import type { Component } from './policy.ts'
import { runCommand } from './run-command.ts'

/** Our Cargo package whose build the gate checks, and its lock, relative to the repository. */
export const ENGINE_MANIFEST = 'task-driver/engine/Cargo.toml'
export const ENGINE_LOCK = 'task-driver/engine/Cargo.lock'
/** The platform the cloud's servers run: crates only other platforms compile are left out. */
export const ENGINE_PLATFORM = 'x86_64-unknown-linux-gnu'

/** One crate as the gate sees it. */
export interface CargoPackage {
  name: string
  version: string
  /** An SPDX expression; `/` is crates.io's legacy spelling of OR. */
  license: string | null
  /** A licence file, relative to the directory of `manifest_path`. */
  license_file: string | null
  /** The crate's Cargo.toml, when known (needed only to read a `license_file`). */
  manifest_path: string | null
  /** Where the crate comes from: 'crates.io', a local directory, or what cargo names (a git URL, another registry). */
  source: string
}

// `cargo tree --format` placeholders: {p} is "name vX.Y.Z", maybe followed by
// " (proc-macro)" and by the source in parentheses (a local path, a git URL,
// another registry; nothing for crates.io); {l} is the `license` field. A
// crate shown before gets " (*)" at the end of its line.
export const TREE_FORMAT = '{p}|{l}'
const PACKAGE = /^(\S+) v(\S+?)(?: \(proc-macro\))?(?: \((.+)\))?$/

function inputError(message: string): never {
  throw new LicenseError('LEAN_ERR_LICENSE_INPUT', message)
}

export interface CompiledCrates {
  /** Our own packages (local ones in `ourDir`): not checked, listed as ours. */
  ours: CargoPackage[]
  /** Every other package compiled in, once each. */
  crates: CargoPackage[]
}

/**
 * The crates of `cargo tree --prefix none --format '{p}|{l}'` output, once
 * each; a local package in `ourDir` (the engine's directory) is ours. Pure.
 */
export function parseCargoTree(text: string, ourDir: string): CompiledCrates {
  const seen = new Map<string, CargoPackage>()
  const ours: CargoPackage[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/ \(\*\)$/, '')
    if (line === '') continue
    const bar = line.lastIndexOf('|')
    if (bar < 0) return inputError(`cargo tree: a line without the licence column: ${JSON.stringify(raw)}`)
    const m = PACKAGE.exec(line.slice(0, bar))
    if (m === null) return inputError(`cargo tree: not a package: ${JSON.stringify(line.slice(0, bar))}`)
    const [, name, version, from] = m as unknown as [string, string, string, string | undefined]
    const key = `${name}@${version}`
    if (seen.has(key)) continue
    const local = from !== undefined && path.isAbsolute(from)
    const license = line.slice(bar + 1).trim()
    const pkg: CargoPackage = {
      name,
      version,
      license: license === '' ? null : license,
      license_file: null,
      manifest_path: local ? path.join(from, 'Cargo.toml') : null,
      source: from ?? 'crates.io',
    }
    seen.set(key, pkg)
    if (local && path.resolve(from) === path.resolve(ourDir)) ours.push(pkg)
  }
  if (ours.length === 0) return inputError(`cargo tree: our package in ${ourDir} is not listed`)
  return { ours, crates: [...seen.values()].filter((p) => !ours.includes(p)) }
}

/** Cargo's home: where it keeps the registry's unpacked crates. */
function cargoHome(env: NodeJS.ProcessEnv): string {
  return env.CARGO_HOME !== undefined && env.CARGO_HOME !== ''
    ? env.CARGO_HOME
    : path.join(homedir(), '.cargo')
}

/**
 * A crate without a `license` may name a `license-file`: find its unpacked
 * Cargo.toml (a local path, or the registry's src/ in cargo's home) and read
 * the field. Unchanged when there is nothing to find.
 */
export async function withLicenceFile(
  pkg: CargoPackage,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CargoPackage> {
  if (pkg.license !== null) return pkg
  let manifest = pkg.manifest_path
  if (manifest === null && pkg.source === 'crates.io') {
    const src = path.join(cargoHome(env), 'registry', 'src')
    const indexes = await readdir(src).catch(() => [] as string[])
    for (const index of indexes.sort()) {
      const candidate = path.join(src, index, `${pkg.name}-${pkg.version}`, 'Cargo.toml')
      if (
        await readFile(candidate, 'utf8').then(
          () => true,
          () => false,
        )
      ) {
        manifest = candidate
        break
      }
    }
  }
  if (manifest === null) return pkg
  const toml = await readFile(manifest, 'utf8').catch(() => '')
  const file = /^license[-_]file\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? null
  return { ...pkg, manifest_path: manifest, license_file: file }
}

/** A Cargo.toml `license` as an SPDX expression: crates.io's legacy `/` separator is OR. */
export function normaliseCargoLicence(declared: string): string {
  return declared
    .trim()
    .replace(/\s*\/\s*/g, ' OR ')
    .replace(/\s+/g, ' ')
}

/** The licence a crate states: its `license` expression, else its `license_file` read and classified. */
export async function crateLicence(
  pkg: CargoPackage,
): Promise<{ licence: string; source: string; declared?: string }> {
  const declared = pkg.license?.trim()
  if (declared) {
    const licence = normaliseCargoLicence(declared)
    return {
      licence,
      source: 'Cargo.toml license',
      ...(licence === declared ? {} : { declared }),
    }
  }
  const file = pkg.license_file?.trim()
  if (!file) return { licence: 'unknown', source: 'Cargo.toml has neither license nor license_file' }
  let text: string
  try {
    if (pkg.manifest_path === null) throw new Error('its Cargo.toml was not found')
    text = await readFile(path.resolve(path.dirname(pkg.manifest_path), file), 'utf8')
  } catch (err) {
    return {
      licence: 'unknown',
      source: `Cargo.toml license_file ${file}: cannot read it (${(err as Error).message})`,
    }
  }
  const licence = licenceExpressionOfText(text)
  if (licence === undefined)
    return { licence: 'unknown', source: `Cargo.toml license_file ${file} (not recognised)` }
  return { licence, source: `Cargo.toml license_file ${file}` }
}

/** One component per crate name@version, used by `lockFile`. */
export async function crateComponents(
  crates: readonly CargoPackage[],
  lockFile: string,
): Promise<Component[]> {
  const byKey = new Map<string, Component>()
  for (const pkg of crates) {
    const key = `${pkg.name}@${pkg.version}`
    if (byKey.has(key)) continue
    const found = await crateLicence(pkg)
    const details = [
      ...(found.declared === undefined ? [] : [`declared as "${found.declared}"`]),
      ...(pkg.source === 'crates.io' ? [] : [`from ${pkg.source}`]),
    ]
    byKey.set(key, {
      ecosystem: 'crates',
      name: pkg.name,
      version: pkg.version,
      licence: found.licence,
      licenceSource: found.source,
      usedBy: [lockFile],
      ...(details.length > 0 ? { detail: details.join('; ') } : {}),
    })
  }
  return [...byKey.values()]
}

export interface OwnCrate {
  name: string
  version: string
  licence: string
}

export interface CheckedCrates {
  /** The Cargo.toml and Cargo.lock read, relative to the repository. */
  manifest: string
  lockFile: string
  platform: string
  /** How the crates were listed: `cargo tree`, normal and build dependencies, for `platform`. */
  graph: 'tree'
  /** Our own packages, not checked. */
  ours: OwnCrate[]
  /** How many crates were checked. */
  crates: number
}

export interface CrateScan {
  /** What was checked; absent when the crates could not be (see `unchecked`). */
  checked?: CheckedCrates
  /** Why the crates were not checked, e.g. cargo is not installed. */
  unchecked?: string
  components: Component[]
  notes: string[]
}

export interface CrateOptions {
  /** The cargo command; a test may name one that does not exist. */
  cargo?: string
  manifest?: string
  lockFile?: string
  /** The platform whose crates are listed; ENGINE_PLATFORM by default. */
  platform?: string
  /** The environment cargo runs in (CARGO_HOME among it); the process's by default. */
  env?: NodeJS.ProcessEnv
}

/** The `cargo tree` arguments that list what `manifest` compiles for `platform` (the engine host's by default). */
export function cargoTreeArgs(manifest: string, platform: string = ENGINE_PLATFORM): string[] {
  return [
    'tree',
    '--locked',
    // Never the network: the crates are those the engine host's build fetched.
    '--offline',
    '--target',
    platform,
    '--edges',
    'normal,build',
    '--prefix',
    'none',
    '--format',
    TREE_FORMAT,
    '--manifest-path',
    manifest,
  ]
}

/** Every crate compiled into the engine host, with the licence its Cargo.toml states. */
export async function readCrates(repoDir: string, options: CrateOptions = {}): Promise<CrateScan> {
  const cargo = options.cargo ?? 'cargo'
  const manifest = options.manifest ?? ENGINE_MANIFEST
  const lockFile = options.lockFile ?? ENGINE_LOCK
  const env = options.env ?? process.env
  const platform = options.platform ?? ENGINE_PLATFORM
  const args = cargoTreeArgs(manifest, platform)
  const out = await runCommand(cargo, args, { cwd: repoDir, env })
  if (out === 'missing') {
    return { unchecked: `${cargo} is not on PATH`, components: [], notes: [] }
  }
  if (out.code !== 0) {
    const why = out.stderr.trim().split('\n').slice(-6).join('\n')
    throw new LicenseError(
      'LEAN_ERR_LICENSE_INPUT',
      `cargo ${args.join(' ')} failed:\n${why}\n` +
        `(the gate reads, offline, the crates the engine host's build downloads: build it first with ` +
        `npm run build:binaries -- wasm-host, or fetch them with cargo fetch --locked --target ${ENGINE_PLATFORM} --manifest-path ${manifest})`,
    )
  }
  const ourDir = path.dirname(path.resolve(repoDir, manifest))
  const compiled = parseCargoTree(out.stdout, ourDir)
  const crates = await Promise.all(compiled.crates.map((c) => withLicenceFile(c, env)))
  const components = await crateComponents(crates, lockFile)
  const ours = await Promise.all(
    compiled.ours.map(async (p) => ({
      name: p.name,
      version: p.version,
      licence: (await crateLicence(p)).licence,
    })),
  )
  return {
    checked: {
      manifest,
      lockFile,
      platform,
      graph: 'tree',
      ours,
      crates: components.length,
    },
    components,
    notes: [],
  }
}
