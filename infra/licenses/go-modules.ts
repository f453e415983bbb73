// The Go modules compiled into the binaries the cloud runs (and our OpenTofu
// provider and the OpenTofu CLI that runs it), and their licence
// files: binaries come from `infra/build-binaries.sh --print`, their modules
// from `go version -m`, the licence texts from the Go module cache.
import { readdir, readFile, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { licenceExpressionOfText } from './classify.ts'
import { LicenseError } from './errors.ts'
import type { Component } from './policy.ts'
import { runCommand, type Run } from './run-command.ts'

export interface ModuleVersion {
  path: string
  /** A semantic version, `(devel)` for a module built from a local tree, or empty for a local replacement. */
  version: string
}

export interface CompiledModule extends ModuleVersion {
  /** The module the build required, when a `replace` put this one in its place. */
  replaces?: ModuleVersion
}

export interface BuildInfo {
  /** The Go release that built the binary, e.g. `go1.26.8`. */
  goVersion: string
  /** The main package, e.g. `github.com/hashicorp/consul`. */
  mainPackage: string
  /** The main module (the `mod` line). */
  main?: CompiledModule
  /** The dependency modules, each as compiled in (after replacement). */
  deps: CompiledModule[]
}

/** Parses the output of `go version -m <binary>`. */
export function parseBuildInfo(text: string): BuildInfo {
  const lines = text.split('\n')
  const first = lines[0] ?? ''
  const goVersion = first.slice(first.lastIndexOf(': ') + 2).trim()
  const info: BuildInfo = { goVersion, mainPackage: '', deps: [] }
  let last: CompiledModule | undefined
  for (const line of lines.slice(1)) {
    const [, kind, modPath, version = ''] = line.split('\t')
    if (modPath === undefined) continue
    if (kind === 'path') info.mainPackage = modPath
    else if (kind === 'mod' || kind === 'dep') {
      last = { path: modPath, version }
      if (kind === 'mod') info.main = last
      else info.deps.push(last)
    } else if (kind === '=>' && last !== undefined) {
      last.replaces = { path: last.path, version: last.version }
      last.path = modPath
      last.version = version
    }
  }
  return info
}

/** The module cache's spelling of a path or version: each upper-case letter becomes `!` and its lower case. */
export function escapeModulePath(p: string): string {
  return p.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)
}

/** LICENSE, LICENCE, COPYING, UNLICENSE, with or without an extension or suffix (`LICENSE.md`, `LICENSE-MIT`, `COPYING.LESSER`). */
export function isLicenceFileName(name: string): boolean {
  if (/\.(go|json|ya?ml|sh|py|js|ts|c|h|html|tmpl|tpl)$/i.test(name)) return false
  return /^(licen[cs]e|copying|unlicense)([-._].*)?$/i.test(name)
}

/** Like runCommand, for tools the Go part cannot do without. */
async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  const out = await runCommand(command, args, options)
  if (out === 'missing')
    throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `cannot run ${command}: it is not on PATH`)
  return out
}

export interface Binary {
  name: string
  path: string
}

/** Our own Go programs build-binaries.sh builds from this repository (not wrapper modules): name → module folder. */
export const OWN_GO_PROGRAMS: Readonly<Record<string, string>> = { 'lean-provider': 'provider' }

/**
 * The binaries the cloud builds: one per wrapper module in infra/binaries/,
 * and our own Go programs, split into those `build-binaries.sh --print`
 * reports as built and those it does not.
 */
export async function listBinaries(repoDir: string): Promise<{ built: Binary[]; notBuilt: string[] }> {
  const wrappers = path.join(repoDir, 'infra', 'binaries')
  const expected: string[] = []
  const entries = await readdir(wrappers, { withFileTypes: true }).catch((err: Error) => {
    throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `cannot list the wrapper modules: ${err.message}`, {
      cause: err,
    })
  })
  for (const entry of entries) {
    if (entry.isDirectory() && (await stat(path.join(wrappers, entry.name, 'go.mod')).catch(() => null))) {
      expected.push(entry.name)
    }
  }
  for (const [name, dir] of Object.entries(OWN_GO_PROGRAMS)) {
    if (await stat(path.join(repoDir, dir, 'go.mod')).catch(() => null)) expected.push(name)
  }
  const script = path.join(repoDir, 'infra', 'build-binaries.sh')
  const printed = await run('bash', [script, '--print', ...expected])
  if (printed.code !== 0) {
    throw new LicenseError(
      'LEAN_ERR_LICENSE_INPUT',
      `build-binaries.sh --print failed: ${printed.stderr.trim()}`,
    )
  }
  const built: Binary[] = []
  for (const line of printed.stdout.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) built.push({ name: line.slice(0, eq), path: line.slice(eq + 1).trim() })
  }
  return { built, notBuilt: expected.filter((n) => !built.some((b) => b.name === n)).sort() }
}

export async function readBuildInfo(binary: string): Promise<BuildInfo> {
  const out = await run('go', ['version', '-m', binary])
  const info = out.code === 0 ? parseBuildInfo(out.stdout) : undefined
  if (info === undefined || info.mainPackage === '') {
    const why = out.stderr.trim() || 'no module information (not a Go binary?)'
    throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `go version -m ${binary}: ${why}`)
  }
  return info
}

export interface FoundLicence {
  /** An SPDX expression (the licences of all its licence files, joined with AND), or `unknown`. */
  licence: string
  /** The files read, relative to the module root, or why there were none. */
  source: string
}

/** Reads and classifies the licence files at the root of a module's source tree (and in a REUSE `LICENSES/` folder). */
export async function licenceOfTree(dir: string): Promise<FoundLicence> {
  const files: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && isLicenceFileName(entry.name)) files.push(entry.name)
    if (entry.isDirectory() && entry.name.toLowerCase() === 'licenses') {
      for (const inner of await readdir(path.join(dir, entry.name), { withFileTypes: true })) {
        if (inner.isFile()) files.push(`${entry.name}/${inner.name}`)
      }
    }
  }
  files.sort()
  if (files.length === 0) return { licence: 'unknown', source: 'no licence file at the module root' }
  // Each file's licence applies (to its part of the module): AND across files,
  // each id once, and a file's own choice between licences kept in parentheses.
  const terms: string[] = []
  for (const file of files) {
    const expression = licenceExpressionOfText(await readFile(path.join(dir, file), 'utf8'))
    if (expression === undefined) continue
    const fileTerms = expression.includes(' OR ') ? [`(${expression})`] : expression.split(' AND ')
    for (const term of fileTerms) if (!terms.includes(term)) terms.push(term)
  }
  if (terms.length === 0) return { licence: 'unknown', source: `${files.join(', ')} (not recognised)` }
  const licence = terms.length === 1 ? terms[0]!.replace(/^\((.*)\)$/, '$1') : terms.join(' AND ')
  return { licence, source: files.join(', ') }
}

interface GoEnv {
  GOMODCACHE: string
  GOROOT: string
}

async function goEnv(): Promise<GoEnv> {
  const out = await run('go', ['env', '-json', 'GOMODCACHE', 'GOROOT'])
  if (out.code !== 0) throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `go env failed: ${out.stderr.trim()}`)
  return JSON.parse(out.stdout) as GoEnv
}

/** The module's source tree: from the module cache, else downloaded through the module proxy. */
async function moduleDir(env: GoEnv, mod: ModuleVersion): Promise<{ dir?: string; why?: string }> {
  const cached = path.join(env.GOMODCACHE, `${escapeModulePath(mod.path)}@${escapeModulePath(mod.version)}`)
  if (await stat(cached).catch(() => null)) return { dir: cached }
  const out = await run('go', ['mod', 'download', '-json', `${mod.path}@${mod.version}`], {
    cwd: os.tmpdir(),
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  })
  let answer: { Dir?: string; Error?: string } = {}
  try {
    answer = JSON.parse(out.stdout) as typeof answer
  } catch {
    // No JSON: the error is on stderr.
  }
  if (answer.Dir) return { dir: answer.Dir }
  return { why: `go mod download failed: ${answer.Error ?? out.stderr.trim()}` }
}

export interface CheckedBinary extends Binary {
  goVersion: string
  mainPackage: string
  /** How many modules (and the standard library) it was found to contain. */
  modules: number
}

export interface GoScan {
  binaries: CheckedBinary[]
  /** Binaries the cloud builds that are not built yet, so were not checked. */
  notBuilt: string[]
  components: Component[]
  /** Facts worth a line of output, e.g. a main module built from this repository. */
  notes: string[]
}

/** Every module compiled into the built binaries, once per module@version, with the licence its files state. */
export async function readGoModules(repoDir: string): Promise<GoScan> {
  const { built, notBuilt } = await listBinaries(repoDir)
  const scan: GoScan = { binaries: [], notBuilt, components: [], notes: [] }
  if (built.length === 0) return scan
  const env = await goEnv()
  const byKey = new Map<string, Component>()

  const add = async (
    binary: string,
    mod: CompiledModule,
    find: () => Promise<FoundLicence>,
  ): Promise<void> => {
    const key = `${mod.path}@${mod.version}`
    let c = byKey.get(key)
    if (c === undefined) {
      const found = await find()
      c = {
        ecosystem: 'go',
        name: mod.path,
        version: mod.version,
        licence: found.licence,
        licenceSource: found.source,
        usedBy: [],
        ...(mod.replaces ? { detail: `replaces ${mod.replaces.path} ${mod.replaces.version}` } : {}),
      }
      byKey.set(key, c)
    }
    if (!c.usedBy.includes(binary)) c.usedBy.push(binary)
  }

  for (const binary of built) {
    const info = await readBuildInfo(binary.path)
    const compiled = [...info.deps]
    if (info.main !== undefined && info.main.version !== '(devel)') compiled.unshift(info.main)
    else if (info.main !== undefined) {
      scan.notes.push(
        `${binary.name}: main module ${info.main.path} is built from a local tree in this repository (a wrapper module, or our own source), not from the module cache`,
      )
    }
    await add(binary.name, { path: 'std', version: info.goVersion }, async () => {
      const found = await licenceOfTree(env.GOROOT)
      return { ...found, source: `GOROOT (${env.GOROOT}): ${found.source}` }
    })
    for (const mod of compiled) {
      await add(binary.name, mod, async () => {
        if (mod.version === '' || mod.version === '(devel)') {
          return { licence: 'unknown', source: `replaced by the local directory ${mod.path}` }
        }
        const { dir, why } = await moduleDir(env, mod)
        return dir === undefined ? { licence: 'unknown', source: why ?? 'not found' } : licenceOfTree(dir)
      })
    }
    scan.binaries.push({
      ...binary,
      goVersion: info.goVersion,
      mainPackage: info.mainPackage,
      modules: compiled.length + 1,
    })
  }
  scan.components = [...byKey.values()]
  return scan
}
