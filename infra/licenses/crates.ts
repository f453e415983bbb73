// The Rust crates compiled into the wasm engine host (task-driver/engine), and
// their licences: the crates from `cargo metadata` (its `resolve` graph, for the
// platform the cloud runs on), each licence from the crate's Cargo.toml
// (`license`, an SPDX expression) or, without one, its `license_file`.
import { readFile } from 'node:fs/promises'
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

const CRATES_IO = 'registry+https://github.com/rust-lang/crates.io-index'

// The parts of `cargo metadata --format-version 1` the gate reads.

export interface CargoPackage {
  id: string
  name: string
  version: string
  /** An SPDX expression; `/` is crates.io's legacy spelling of OR. */
  license: string | null
  /** A licence file, relative to the directory of `manifest_path`. */
  license_file: string | null
  manifest_path: string
  /** Where the crate comes from, e.g. crates.io's registry; null for a local path. */
  source: string | null
}

export interface CargoDepKind {
  /** null: a normal dependency. */
  kind: 'dev' | 'build' | null
  target: string | null
}

export interface CargoNode {
  id: string
  deps: { pkg: string; dep_kinds?: CargoDepKind[] }[]
}

export interface CargoMetadata {
  packages: CargoPackage[]
  workspace_members: string[]
  resolve: { nodes: CargoNode[]; root: string | null } | null
}

function inputError(message: string): never {
  throw new LicenseError('LEAN_ERR_LICENSE_INPUT', message)
}

/** Validates the shape of `cargo metadata` output; `source` names it in errors. */
export function parseCargoMetadata(data: unknown, source: string): CargoMetadata {
  const d = data as Partial<CargoMetadata> | null
  if (
    typeof d !== 'object' ||
    d === null ||
    !Array.isArray(d.packages) ||
    !Array.isArray(d.workspace_members)
  ) {
    return inputError(`${source}: not cargo metadata (no "packages" or "workspace_members")`)
  }
  for (const p of d.packages as unknown[]) {
    const pkg = p as Partial<CargoPackage> | null
    if (
      typeof pkg !== 'object' ||
      pkg === null ||
      typeof pkg.id !== 'string' ||
      typeof pkg.name !== 'string' ||
      typeof pkg.version !== 'string' ||
      typeof pkg.manifest_path !== 'string'
    ) {
      return inputError(`${source}: a package without id, name, version or manifest_path`)
    }
  }
  const resolve = d.resolve ?? null
  if (resolve !== null && (typeof resolve !== 'object' || !Array.isArray(resolve.nodes))) {
    return inputError(`${source}: "resolve" has no "nodes"`)
  }
  return {
    packages: d.packages.map((p) => ({
      ...p,
      license: typeof p.license === 'string' ? p.license : null,
      license_file: typeof p.license_file === 'string' ? p.license_file : null,
      source: typeof p.source === 'string' ? p.source : null,
    })),
    workspace_members: d.workspace_members,
    resolve,
  }
}

export interface CompiledCrates {
  /** Our own packages (the workspace members): not checked, listed as ours. */
  ours: CargoPackage[]
  /** Every other package compiled in, once each. */
  crates: CargoPackage[]
  /**
   * `resolve`: the crates reachable from ours through normal and build
   * dependencies in cargo's resolve graph. `packages`: there was no usable
   * graph, so every package cargo listed (dev-dependencies included).
   */
  graph: 'resolve' | 'packages'
}

/** Whether a dependency edge is compiled into the build: a normal or build dependency, not only a dev one. */
function compiledEdge(kinds: CargoDepKind[]): boolean {
  return kinds.some((k) => k.kind === null || k.kind === 'build')
}

/**
 * The crates compiled into our packages' build. The graph is cargo's (with
 * `--filter-platform`, only the edges for that platform); dev-dependencies are
 * followed from nowhere. Pure.
 */
export function compiledCrates(meta: CargoMetadata): CompiledCrates {
  const byId = new Map(meta.packages.map((p) => [p.id, p]))
  const oursIds = new Set(meta.workspace_members)
  const ours = meta.packages.filter((p) => oursIds.has(p.id))
  const everything = (): CompiledCrates => ({
    ours,
    crates: meta.packages.filter((p) => !oursIds.has(p.id)),
    graph: 'packages',
  })
  const resolve = meta.resolve
  if (resolve === null) return everything()
  const nodes = new Map(resolve.nodes.map((n) => [n.id, n]))
  const roots = resolve.root !== null ? [resolve.root] : meta.workspace_members
  // Without dep_kinds (cargo before 1.41) a dev-dependency cannot be told apart.
  const usable =
    roots.length > 0 &&
    roots.every((r) => nodes.has(r)) &&
    resolve.nodes.every((n) => Array.isArray(n.deps) && n.deps.every((d) => Array.isArray(d.dep_kinds)))
  if (!usable) return everything()

  const reached = new Set<string>()
  const stack = [...roots]
  while (stack.length > 0) {
    const id = stack.pop()!
    if (reached.has(id)) continue
    reached.add(id)
    for (const dep of nodes.get(id)?.deps ?? []) {
      if (compiledEdge(dep.dep_kinds!)) stack.push(dep.pkg)
    }
  }
  const crates: CargoPackage[] = []
  for (const id of reached) {
    if (oursIds.has(id)) continue
    const pkg = byId.get(id)
    if (pkg === undefined)
      return inputError(`cargo metadata: the resolve graph names ${id}, which is not a package`)
    crates.push(pkg)
  }
  return { ours, crates, graph: 'resolve' }
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
      ...(pkg.source === CRATES_IO ? [] : [`from ${pkg.source ?? 'a local path'}`]),
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
  /** See CompiledCrates. */
  graph: 'resolve' | 'packages'
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
}

/** Every crate compiled into the engine host, with the licence its Cargo.toml states. */
export async function readCrates(repoDir: string, options: CrateOptions = {}): Promise<CrateScan> {
  const cargo = options.cargo ?? 'cargo'
  const manifest = options.manifest ?? ENGINE_MANIFEST
  const lockFile = options.lockFile ?? ENGINE_LOCK
  const args = [
    'metadata',
    '--format-version',
    '1',
    '--locked',
    '--offline',
    '--filter-platform',
    ENGINE_PLATFORM,
    '--manifest-path',
    manifest,
  ]
  const out = await runCommand(cargo, args, { cwd: repoDir })
  if (out === 'missing') {
    return { unchecked: `${cargo} is not on PATH`, components: [], notes: [] }
  }
  if (out.code !== 0) {
    const why = out.stderr.trim().split('\n').slice(-6).join('\n')
    throw new LicenseError(
      'LEAN_ERR_LICENSE_INPUT',
      `cargo ${args.join(' ')} failed:\n${why}\n` +
        `(a crate missing from the local registry cache: run cargo fetch --locked --manifest-path ${manifest})`,
    )
  }
  let data: unknown
  try {
    data = JSON.parse(out.stdout)
  } catch (err) {
    throw new LicenseError(
      'LEAN_ERR_LICENSE_INPUT',
      `cargo metadata printed no JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  const compiled = compiledCrates(parseCargoMetadata(data, 'cargo metadata'))
  const components = await crateComponents(compiled.crates, lockFile)
  const ours = await Promise.all(
    compiled.ours.map(async (p) => ({
      name: p.name,
      version: p.version,
      licence: (await crateLicence(p)).licence,
    })),
  )
  const notes: string[] = []
  if (compiled.graph === 'packages') {
    notes.push(
      `cargo metadata gave no usable resolve graph for ${manifest}: every package it lists for ${ENGINE_PLATFORM} was checked, dev-dependencies included`,
    )
  }
  return {
    checked: {
      manifest,
      lockFile,
      platform: ENGINE_PLATFORM,
      graph: compiled.graph,
      ours,
      crates: components.length,
    },
    components,
    notes,
  }
}
