// Entry point of `npm run licenses`: the licence gate. Lists every npm package
// of the lock files, every Go module compiled into the cloud's binaries and
// every Rust crate compiled into the wasm engine host (and into the Rust
// example, when its crates are downloaded), judges each licence,
// prints a table and exits 1 when anything is refused.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs as parseNodeArgs } from 'node:util'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ENGINE_LOCK, readCrates } from './crates.ts'
import type { CheckedCrates } from './crates.ts'
import { LicenseError } from './errors.ts'
import { mergeCrates, readExampleCrates } from './example-crates.ts'
import type { LicenseErrorCode } from './errors.ts'
import { readGoModules } from './go-modules.ts'
import type { CheckedBinary } from './go-modules.ts'
import { readNpmPackages } from './npm-packages.ts'
import { applyPolicy, ECOSYSTEMS, parseAllowList } from './policy.ts'
import type { AllowEntry, Component, Ecosystem, Judgement } from './policy.ts'

export const LOCK_FILES = ['package-lock.json', 'workloads/toolchain/package-lock.json']
export const ALLOW_LIST = 'infra/licenses/allow-list.json'

const usage = `usage: npm run licenses -- [--json] [--only npm|go|crates] [--require-binaries]
  --json                machine-readable report on stdout
  --only npm|go|crates  check one ecosystem
  --require-binaries    fail when a binary the cloud builds is not built yet, or when cargo is
                        missing so the engine host's crates cannot be listed (by default: a warning)`

export interface Options {
  json: boolean
  only?: Ecosystem
  requireBinaries: boolean
  help: boolean
}

export function parseArgs(argv: readonly string[]): Options {
  let values
  try {
    ;({ values } = parseNodeArgs({
      args: [...argv],
      options: {
        json: { type: 'boolean', default: false },
        only: { type: 'string' },
        'require-binaries': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    throw new LicenseError('LEAN_ERR_LICENSE_USAGE', (err as Error).message)
  }
  const only = values.only
  if (only !== undefined && !(ECOSYSTEMS as readonly string[]).includes(only)) {
    throw new LicenseError('LEAN_ERR_LICENSE_USAGE', `--only takes ${ECOSYSTEMS.join(', ')}, not "${only}"`)
  }
  return {
    json: values.json,
    requireBinaries: values['require-binaries'],
    help: values.help,
    ...(only === undefined ? {} : { only: only as Ecosystem }),
  }
}

export interface Report {
  judgements: Judgement[]
  /** The npm lock files read (none with `--only go` or `--only crates`). */
  lockFiles: string[]
  /** The binaries whose modules were checked. */
  binaries: CheckedBinary[]
  /** Binaries the cloud builds that are not built, so were not checked. */
  notBuilt: string[]
  /** The Cargo package whose crates were checked; absent with `--only npm|go` or when they could not be. */
  crates?: CheckedCrates
  /** Why the crates were not checked (cargo is not on PATH). */
  cratesUnchecked?: string
  /** The example Cargo packages whose crates were checked too (examples/rust-hello). */
  exampleCrates?: CheckedCrates[]
  /** Examples whose crates were not checked, and why: a warning, never a failure (they are not part of the cloud). */
  exampleCratesUnchecked?: string[]
  notes: string[]
  unusedAllowEntries: AllowEntry[]
}

/** Reads everything the gate checks and judges it. */
export async function collect(repoDir: string, options: Pick<Options, 'only'>): Promise<Report> {
  const components: Component[] = []
  const report: Omit<Report, 'judgements' | 'unusedAllowEntries'> = {
    lockFiles: [],
    binaries: [],
    notBuilt: [],
    notes: [],
  }
  const wanted = (e: Ecosystem): boolean => options.only === undefined || options.only === e
  if (wanted('npm')) {
    components.push(...(await readNpmPackages(repoDir, LOCK_FILES)))
    report.lockFiles = [...LOCK_FILES]
  }
  if (wanted('go')) {
    const go = await readGoModules(repoDir)
    components.push(...go.components)
    Object.assign(report, { binaries: go.binaries, notBuilt: go.notBuilt })
    report.notes.push(...go.notes)
  }
  if (wanted('crates')) {
    const crates = await readCrates(repoDir)
    components.push(...crates.components)
    if (crates.checked !== undefined) report.crates = crates.checked
    if (crates.unchecked !== undefined) report.cratesUnchecked = crates.unchecked
    report.notes.push(...crates.notes)
    const examples = await readExampleCrates(repoDir)
    mergeCrates(components, examples.components)
    report.exampleCrates = examples.checked
    report.exampleCratesUnchecked = examples.unchecked
  }
  let allowData: unknown
  try {
    allowData = JSON.parse(await readFile(path.join(repoDir, ALLOW_LIST), 'utf8'))
  } catch (err) {
    throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `cannot read ${ALLOW_LIST}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const allowList = parseAllowList(allowData, ALLOW_LIST).filter(
    (e) => options.only === undefined || e.ecosystem === options.only,
  )
  const { judgements, unusedAllowEntries } = applyPolicy(components, allowList)
  judgements.sort(
    (a, b) => compare(a.ecosystem, b.ecosystem) || compare(a.name, b.name) || compare(a.version, b.version),
  )
  return { ...report, judgements, unusedAllowEntries }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export interface Decision {
  exitCode: 0 | 1
  /** The code of the failure, when there is one. */
  code?: LicenseErrorCode
  refused: Judgement[]
  /** Lines that do not fail the gate (or do, for unbuilt binaries under --require-binaries). */
  warnings: string[]
  /** Lines that say why the gate failed. */
  failures: string[]
}

/** Whether the gate passes: nothing refused and, with `requireBinaries`, every binary checked. Pure. */
export function decide(report: Report, options: Pick<Options, 'requireBinaries'>): Decision {
  const refused = report.judgements.filter((j) => j.verdict === 'refused')
  const warnings: string[] = []
  const failures: string[] = []
  const unchecked = report.notBuilt.map(
    (name) =>
      `${name} is not built yet, so the Go modules in it were not checked (build it: npm run build:binaries)`,
  )
  if (report.cratesUnchecked !== undefined) {
    unchecked.push(
      `${report.cratesUnchecked}, so the crates of ${ENGINE_LOCK} were not checked (install the Rust toolchain: https://rustup.rs)`,
    )
  }
  for (const line of unchecked) {
    if (options.requireBinaries) failures.push(`LEAN_ERR_LICENSE_UNCHECKED: ${line}`)
    else warnings.push(`${line}; --require-binaries makes this a failure`)
  }
  for (const line of report.exampleCratesUnchecked ?? []) warnings.push(`example crates not checked: ${line}`)
  for (const e of report.unusedAllowEntries) {
    // With a binary unchecked, a Go entry may be for a module only that binary contains.
    const partial =
      e.ecosystem === 'go' && report.notBuilt.length > 0
        ? ` in the binaries checked (${report.notBuilt.join(', ')} not built)`
        : e.ecosystem === 'crates' && report.cratesUnchecked !== undefined
          ? ' (the crates were not checked)'
          : undefined
    warnings.push(
      `allow-list entry ${e.ecosystem} ${e.name} ${e.version} matches no refused package` +
        (partial ?? `: remove it from ${ALLOW_LIST}`),
    )
  }
  if (refused.length > 0) {
    failures.push(`LEAN_ERR_LICENSE_REFUSED: ${refused.length} package(s) refused:`)
    for (const r of refused)
      failures.push(`  ${r.ecosystem} ${r.name} ${r.version}: ${r.licence} (${r.note}; ${r.licenceSource})`)
    failures.push(
      'Replace each with a package under an OSI-approved licence or, if its licence is in fact acceptable, add an entry',
      `to ${ALLOW_LIST} with the licence it really is and the reason, for review.`,
    )
  }
  const code: LicenseErrorCode | undefined =
    refused.length > 0
      ? 'LEAN_ERR_LICENSE_REFUSED'
      : failures.length > 0
        ? 'LEAN_ERR_LICENSE_UNCHECKED'
        : undefined
  return { exitCode: failures.length > 0 ? 1 : 0, refused, warnings, failures, ...(code ? { code } : {}) }
}

function verdictCell(j: Judgement): string {
  switch (j.verdict) {
    case 'pass':
      return 'pass'
    case 'copyleft':
      return 'pass (copyleft)'
    case 'allowed':
      return 'allowed (allow-list)'
    case 'refused':
      return 'REFUSED'
  }
}

/** A licence cell at most `max` characters wide: a long AND list is cut at a term and says how many it left out. */
function licenceCell(licence: string, max = 60): string {
  if (licence.length <= max) return licence
  const terms = licence.split(' AND ')
  let kept = 0
  while (kept < terms.length && terms.slice(0, kept + 1).join(' AND ').length <= max - 16) kept++
  return `${terms.slice(0, Math.max(kept, 1)).join(' AND ')} AND … (+${terms.length - Math.max(kept, 1)} more)`
}

/** One row per package, columns padded to the widest cell; the JSON output has every licence in full. */
export function formatTable(judgements: readonly Judgement[]): string {
  const rows = [
    ['ecosystem', 'name', 'version', 'licence', 'verdict'],
    ...judgements.map((j) => [j.ecosystem, j.name, j.version, licenceCell(j.licence), verdictCell(j)]),
  ]
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)))
  return rows
    .map((r) =>
      r
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

export function summaryLines(report: Report): string[] {
  const lines: string[] = []
  const count = (ecosystem: Ecosystem, noun: [string, string], where: string): void => {
    const js = report.judgements.filter((j) => j.ecosystem === ecosystem)
    const n = (v: Judgement['verdict']): number => js.filter((j) => j.verdict === v).length
    lines.push(
      `${ecosystem}: ${plural(js.length, ...noun)}${where}, ${n('refused')} refused (${n('allowed')} allow-listed, ${n('copyleft')} copyleft)`,
    )
  }
  if (report.lockFiles.length > 0)
    count('npm', ['package', 'packages'], ` in ${report.lockFiles.join(' and ')}`)
  const checked = report.binaries.map((b) => b.name).join(', ')
  if (report.binaries.length > 0 || report.notBuilt.length > 0) {
    count(
      'go',
      ['module', 'modules'],
      ` in ${plural(report.binaries.length, 'binary', 'binaries')}${checked ? ` (${checked})` : ''}`,
    )
  }
  if (report.crates !== undefined) {
    const lockFiles = [report.crates, ...(report.exampleCrates ?? [])].map((c) => c.lockFile)
    count('crates', ['crate', 'crates'], ` in ${lockFiles.join(' and ')}`)
  } else if (report.cratesUnchecked !== undefined) {
    lines.push(`crates: not checked (${report.cratesUnchecked})`)
  }
  return lines
}

export function formatReport(report: Report, decision: Decision): string {
  const out: string[] = [formatTable(report.judgements), '']
  const allowed = report.judgements.filter((j) => j.verdict === 'allowed')
  if (allowed.length > 0) {
    out.push(`Allow-listed (${ALLOW_LIST}):`)
    for (const j of allowed) out.push(`  ${j.ecosystem} ${j.name} ${j.version}: ${j.allowedAs}: ${j.note}`)
    out.push('')
  }
  const copyleft = report.judgements.filter((j) => j.verdict === 'copyleft')
  if (copyleft.length > 0) {
    out.push('Copyleft (OSI-approved, passes; mind how it is linked and shipped):')
    for (const j of copyleft) out.push(`  ${j.ecosystem} ${j.name} ${j.version}: ${j.licence}`)
    out.push('')
  }
  for (const b of report.binaries) {
    out.push(`checked ${b.name}: ${b.path} (${b.mainPackage}, ${b.goVersion}, ${b.modules} modules)`)
  }
  for (const name of report.notBuilt) out.push(`not built: ${name}`)
  if (report.crates !== undefined) {
    const c = report.crates
    const ours = c.ours.map((o) => `${o.name} ${o.version}, ${o.licence}`).join('; ')
    const how = 'its normal and build dependencies, from cargo tree'
    out.push(
      `checked crates: ${c.manifest} for ${c.platform} (${plural(c.crates, 'crate', 'crates')}: ${how}; ours, not checked: ${ours})`,
    )
  }
  for (const c of report.exampleCrates ?? []) {
    out.push(
      `checked crates: ${c.manifest} for ${c.platform} (${plural(c.crates, 'crate', 'crates')}; an example, not part of the cloud)`,
    )
  }
  if (report.cratesUnchecked !== undefined)
    out.push(`not checked: crates of ${ENGINE_LOCK} (${report.cratesUnchecked})`)
  for (const note of report.notes) out.push(`note: ${note}`)
  for (const w of decision.warnings) out.push(`warning: ${w}`)
  out.push(...summaryLines(report))
  return out.join('\n') + '\n'
}

function jsonReport(report: Report, decision: Decision): string {
  return (
    JSON.stringify(
      {
        ok: decision.exitCode === 0,
        exitCode: decision.exitCode,
        ...(decision.code ? { code: decision.code } : {}),
        summary: summaryLines(report),
        lockFiles: report.lockFiles,
        binaries: report.binaries,
        notBuilt: report.notBuilt,
        crates: report.crates ?? null,
        ...(report.cratesUnchecked === undefined ? {} : { cratesUnchecked: report.cratesUnchecked }),
        exampleCrates: report.exampleCrates ?? [],
        exampleCratesUnchecked: report.exampleCratesUnchecked ?? [],
        notes: report.notes,
        warnings: decision.warnings,
        failures: decision.failures,
        unusedAllowEntries: report.unusedAllowEntries,
        packages: report.judgements,
      },
      null,
      2,
    ) + '\n'
  )
}

export async function main(argv: readonly string[], repoDir: string): Promise<number> {
  const options = parseArgs(argv)
  if (options.help) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  let report: Report
  try {
    report = await collect(repoDir, options)
  } catch (err) {
    if (!options.json || !(err instanceof LicenseError)) throw err
    // A reader of --json gets the refusal as JSON too, with the same text as stderr.
    const failed = { ok: false, exitCode: err.exitCode, code: err.code, failures: [err.message] }
    process.stdout.write(JSON.stringify(failed, null, 2) + '\n')
    process.stderr.write(`licenses: ${err.code}: ${err.message}\n`)
    return err.exitCode
  }
  const decision = decide(report, options)
  process.stdout.write(options.json ? jsonReport(report, decision) : formatReport(report, decision))
  if (decision.failures.length > 0) process.stderr.write(`\n${decision.failures.join('\n')}\n`)
  return decision.exitCode
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
  // exitCode, not exit(): a report piped to another program is written asynchronously.
  main(process.argv.slice(2), repoDir).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      const code = err instanceof LicenseError ? `${err.code}: ` : ''
      process.stderr.write(`licenses: ${code}${err instanceof Error ? err.message : String(err)}\n`)
      if (err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_USAGE')
        process.stderr.write(`${usage}\n`)
      process.exitCode = err instanceof LicenseError ? err.exitCode : 1
    },
  )
}
