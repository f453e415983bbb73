// The crates ecosystem without cargo or network: hand-written `cargo tree`
// output → the crates compiled in → their licences → the policy and the CLI.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { decide, formatReport, formatTable, parseArgs, summaryLines } from '../../../infra/licenses/cli.ts'
import type { Report } from '../../../infra/licenses/cli.ts'
import {
  cargoTreeArgs,
  crateComponents,
  normaliseCargoLicence,
  parseCargoTree,
  readCrates,
  withLicenceFile,
} from '../../../infra/licenses/crates.ts'
import type { CargoPackage, CheckedCrates } from '../../../infra/licenses/crates.ts'
import { LicenseError } from '../../../infra/licenses/errors.ts'
import { applyPolicy, judgeLicence, parseAllowList } from '../../../infra/licenses/policy.ts'
import type { AllowEntry, Component } from '../../../infra/licenses/policy.ts'

const LOCK = 'task-driver/engine/Cargo.lock'
const OURS = '/repo/task-driver/engine'

/**
 * What `cargo tree --prefix none --format '{p}|{l}'` prints for an engine host
 * that depends on wasmtime, fnv and a BUSL crate, with cc as a build
 * dependency: a crate seen before ends in " (*)", proc-macros say so, sources
 * other than crates.io are named in parentheses.
 */
const tree = [
  `lean-wasm-host v0.1.0 (${OURS})|Apache-2.0`,
  'wasmtime v48.0.8|Apache-2.0 WITH LLVM-exception',
  'rustix v1.1.6|Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT',
  'async-trait v0.1.92 (proc-macro)|MIT OR Apache-2.0',
  'source-available v0.3.0|BUSL-1.1',
  'fnv v1.0.7|Apache-2.0 / MIT',
  'core_detect v1.0.0|MIT/Apache-2.0',
  'rustix v1.1.6|Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT (*)',
  'cc v1.2.0|MIT OR Apache-2.0',
  'forked v0.2.0 (https://example.org/forked.git#0123abcd)|MIT',
  '',
].join('\n')

const names = (list: { name: string }[]): string[] => list.map((p) => p.name).sort()

test('cargo tree: every crate once, ours apart, proc-macros and other sources understood', () => {
  const compiled = parseCargoTree(tree, OURS)
  assert.deepEqual(names(compiled.ours), ['lean-wasm-host'])
  assert.deepEqual(names(compiled.crates), [
    'async-trait',
    'cc',
    'core_detect',
    'fnv',
    'forked',
    'rustix',
    'source-available',
    'wasmtime',
  ])
  const forked = compiled.crates.find((c) => c.name === 'forked')!
  assert.equal(forked.source, 'https://example.org/forked.git#0123abcd')
  assert.equal(compiled.crates.find((c) => c.name === 'async-trait')!.version, '0.1.92')
})

test('cargo tree is asked offline, for the cloud platform, for normal and build dependencies only', () => {
  const args = cargoTreeArgs('task-driver/engine/Cargo.toml')
  assert.ok(args.includes('--offline') && args.includes('--locked'))
  assert.equal(args[args.indexOf('--target') + 1], 'x86_64-unknown-linux-gnu')
  assert.equal(args[args.indexOf('--edges') + 1], 'normal,build')
})

test('cargo tree output that is not: an input error', () => {
  for (const bad of ['no bar here', 'not a package|MIT', `wasmtime v48.0.8|Apache-2.0`]) {
    assert.throws(
      () => parseCargoTree(bad, OURS),
      (err: unknown) => err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_INPUT',
    )
  }
})

test('the legacy "/" separator is OR: MIT/Apache-2.0 passes, and the declared spelling is kept as detail', async () => {
  assert.equal(normaliseCargoLicence('MIT/Apache-2.0'), 'MIT OR Apache-2.0')
  assert.equal(normaliseCargoLicence('Apache-2.0 / MIT'), 'Apache-2.0 OR MIT')
  assert.equal(normaliseCargoLicence('MIT OR Apache-2.0'), 'MIT OR Apache-2.0')
  assert.equal(judgeLicence(normaliseCargoLicence('MIT/Apache-2.0')).verdict, 'pass')
  assert.equal(judgeLicence(normaliseCargoLicence('BUSL-1.1/MIT')).verdict, 'pass', 'one approved branch')

  const components = await crateComponents(parseCargoTree(tree, OURS).crates, LOCK)
  const coreDetect = components.find((c) => c.name === 'core_detect')!
  assert.deepEqual(coreDetect, {
    ecosystem: 'crates',
    name: 'core_detect',
    version: '1.0.0',
    licence: 'MIT OR Apache-2.0',
    licenceSource: 'Cargo.toml license',
    usedBy: [LOCK],
    detail: 'declared as "MIT/Apache-2.0"',
  })
  const wasmtime = components.find((c) => c.name === 'wasmtime')!
  assert.equal(wasmtime.licence, 'Apache-2.0 WITH LLVM-exception')
  assert.equal(wasmtime.detail, undefined)
})

test("only a license_file: found in cargo's home and its text classified; a crate with neither is unknown", async () => {
  const home = await mkdtemp(path.join(tmpdir(), 'licenses-cargo-home-'))
  const src = path.join(home, 'registry', 'src', 'index.crates.io-0123456789abcdef')
  const crate = async (dir: string, toml: string, files: Record<string, string> = {}) => {
    await mkdir(path.join(src, dir), { recursive: true })
    await writeFile(path.join(src, dir, 'Cargo.toml'), toml)
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(src, dir, name), text)
  }
  await crate('quiet-0.1.0', '[package]\nname = "quiet"\nversion = "0.1.0"\nlicense-file = "LICENSE.txt"\n', {
    'LICENSE.txt':
      'Permission is hereby granted, free of charge, to any person obtaining a copy of this software, subject to: The above copyright notice and this permission notice shall be included in all copies.\n',
  })
  await crate('gone-0.1.0', '[package]\nname = "gone"\nversion = "0.1.0"\nlicense-file = "COPYING"\n')
  const bare = (name: string): CargoPackage => ({
    name,
    version: '0.1.0',
    license: null,
    license_file: null,
    manifest_path: null,
    source: 'crates.io',
  })
  const env = { CARGO_HOME: home }
  const found = await Promise.all(['quiet', 'gone', 'bare'].map((n) => withLicenceFile(bare(n), env)))
  assert.equal(found[0]!.manifest_path, path.join(src, 'quiet-0.1.0', 'Cargo.toml'))
  const components = await crateComponents(found, LOCK)
  assert.deepEqual(
    components.map((c) => [c.name, c.licence]),
    [
      ['quiet', 'MIT'],
      ['gone', 'unknown'],
      ['bare', 'unknown'],
    ],
  )
  assert.equal(components[0]!.licenceSource, 'Cargo.toml license_file LICENSE.txt')
  assert.match(components[1]!.licenceSource, /license_file COPYING: cannot read it/)
  assert.equal(components[2]!.licenceSource, 'Cargo.toml has neither license nor license_file')
})

const checked = (crates: number): CheckedCrates => ({
  manifest: 'task-driver/engine/Cargo.toml',
  lockFile: LOCK,
  platform: 'x86_64-unknown-linux-gnu',
  graph: 'tree',
  ours: [{ name: 'lean-wasm-host', version: '0.1.0', licence: 'Apache-2.0' }],
  crates,
})

function report(components: Component[], allowList: AllowEntry[], over: Partial<Report>): Report {
  const { judgements, unusedAllowEntries } = applyPolicy(components, allowList)
  return { judgements, unusedAllowEntries, lockFiles: [], binaries: [], notBuilt: [], notes: [], ...over }
}

test('a crate under the Business Source License is refused; a reviewed crates allow-list entry applies', async () => {
  const components = await crateComponents(parseCargoTree(tree, OURS).crates, LOCK)
  const r = report(components, [], { crates: checked(components.length) })
  const busl = r.judgements.find((j) => j.name === 'source-available')!
  assert.equal(busl.verdict, 'refused')
  assert.match(busl.note, /Business Source License/)
  assert.deepEqual(
    r.judgements.filter((j) => j.verdict !== 'pass').map((j) => j.name),
    ['source-available'],
  )

  const decision = decide(r, { requireBinaries: false })
  assert.equal(decision.exitCode, 1)
  assert.equal(decision.code, 'LEAN_ERR_LICENSE_REFUSED')
  assert.match(
    decision.failures.join('\n'),
    /crates source-available 0\.3\.0: BUSL-1\.1 \(Business Source License/,
  )
  assert.match(formatTable(r.judgements), /crates\s+source-available\s+0\.3\.0\s+BUSL-1\.1\s+REFUSED/)
  assert.deepEqual(summaryLines(r), [
    'crates: 8 crates in task-driver/engine/Cargo.lock, 1 refused (0 allow-listed, 0 copyleft)',
  ])
  assert.match(
    formatReport(r, decision),
    /checked crates: task-driver\/engine\/Cargo\.toml for x86_64-unknown-linux-gnu \(8 crates: .*ours, not checked: lean-wasm-host 0\.1\.0, Apache-2\.0\)/,
  )

  const allow = parseAllowList(
    [
      {
        ecosystem: 'crates',
        name: 'source-available',
        version: '0.3.0',
        licence: 'MIT',
        reason: 'test: the crate was relicensed and its Cargo.toml lags behind',
      },
    ],
    'allow-list.json',
  )
  const allowed = report(components, allow, { crates: checked(components.length) })
  assert.equal(allowed.judgements.find((j) => j.name === 'source-available')!.verdict, 'allowed')
  assert.equal(decide(allowed, { requireBinaries: false }).exitCode, 0)
})

test('without cargo the crates are not checked: a warning, or with --require-binaries a failure', async () => {
  const scan = await readCrates(tmpdir(), {
    cargo: path.join(tmpdir(), 'no-such-cargo-for-the-licence-gate'),
  })
  assert.deepEqual(scan.components, [])
  assert.equal(scan.checked, undefined)
  assert.match(scan.unchecked ?? '', /is not on PATH$/)

  const stale: AllowEntry = { ecosystem: 'crates', name: 'gone', version: '*', licence: 'MIT', reason: 'old' }
  const r = report([], [stale], { cratesUnchecked: scan.unchecked! })
  const lenient = decide(r, { requireBinaries: false })
  assert.equal(lenient.exitCode, 0)
  assert.match(
    lenient.warnings.join('\n'),
    /is not on PATH, so the crates of task-driver\/engine\/Cargo\.lock were not checked.*--require-binaries makes this a failure/,
  )
  assert.match(
    lenient.warnings.join('\n'),
    /allow-list entry crates gone \* matches no refused package \(the crates were not checked\)/,
  )
  assert.match(summaryLines(r).join('\n'), /^crates: not checked \(.*is not on PATH\)$/m)
  assert.match(formatReport(r, lenient), /^not checked: crates of task-driver\/engine\/Cargo\.lock/m)

  const strict = decide(r, { requireBinaries: true })
  assert.equal(strict.exitCode, 1)
  assert.equal(strict.code, 'LEAN_ERR_LICENSE_UNCHECKED')
})

test('command line: --only crates', () => {
  assert.deepEqual(parseArgs(['--only', 'crates']), {
    json: false,
    requireBinaries: false,
    help: false,
    only: 'crates',
  })
})
