// The crates ecosystem without cargo or network: a hand-written `cargo metadata`
// document → the crates compiled in → their licences → the policy and the CLI.
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { decide, formatReport, formatTable, parseArgs, summaryLines } from '../../../infra/licenses/cli.ts'
import type { Report } from '../../../infra/licenses/cli.ts'
import {
  compiledCrates,
  crateComponents,
  normaliseCargoLicence,
  parseCargoMetadata,
  readCrates,
} from '../../../infra/licenses/crates.ts'
import type { CheckedCrates } from '../../../infra/licenses/crates.ts'
import { LicenseError } from '../../../infra/licenses/errors.ts'
import { applyPolicy, judgeLicence, parseAllowList } from '../../../infra/licenses/policy.ts'
import type { AllowEntry, Component } from '../../../infra/licenses/policy.ts'

const registry = 'registry+https://github.com/rust-lang/crates.io-index'
const LOCK = 'task-driver/engine/Cargo.lock'

/** A cargo metadata package id, as cargo 1.77+ spells it. */
const id = (name: string, version: string): string => `${registry}#${name}@${version}`
const rootId = 'path+file:///repo/task-driver/engine#lean-wasm-host@0.1.0'

const pkg = (name: string, version: string, license: string | null, licenseFile: string | null = null) => ({
  name,
  version,
  id: id(name, version),
  license,
  license_file: licenseFile,
  description: null,
  source: registry,
  dependencies: [],
  targets: [],
  features: {},
  manifest_path: `/cargo/registry/src/index.crates.io-0/${name}-${version}/Cargo.toml`,
})

const normal = { kind: null, target: null }
const build = { kind: 'build', target: null }
const dev = { kind: 'dev', target: null }
const edge = (to: string, ...kinds: object[]) => ({
  name: to.slice(to.indexOf('#') + 1, to.lastIndexOf('@')),
  pkg: to,
  dep_kinds: kinds,
})

/**
 * The engine host depends on wasmtime (normal), fnv (normal), cc (build) and
 * tempfile (dev). wasmtime needs rustix and a BUSL crate; tempfile needs
 * rustix too, and fastrand, which nothing compiled needs.
 */
function metadata(): unknown {
  return {
    packages: [
      { ...pkg('lean-wasm-host', '0.1.0', 'Apache-2.0'), id: rootId, source: null },
      pkg('wasmtime', '48.0.8', 'Apache-2.0 WITH LLVM-exception'),
      pkg('fnv', '1.0.7', 'Apache-2.0 / MIT'),
      pkg('core_detect', '1.0.0', 'MIT/Apache-2.0'),
      pkg('cc', '1.2.0', 'MIT OR Apache-2.0'),
      pkg('rustix', '1.1.6', 'Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT'),
      pkg('tempfile', '3.23.0', 'MIT OR Apache-2.0'),
      pkg('fastrand', '2.5.0', 'Apache-2.0 OR MIT'),
      pkg('source-available', '0.3.0', 'BUSL-1.1'),
    ],
    workspace_members: [rootId],
    workspace_default_members: [rootId],
    resolve: {
      root: rootId,
      nodes: [
        {
          id: rootId,
          dependencies: [],
          deps: [
            edge(id('wasmtime', '48.0.8'), normal),
            edge(id('fnv', '1.0.7'), normal),
            edge(id('cc', '1.2.0'), build),
            edge(id('tempfile', '3.23.0'), dev),
          ],
          features: [],
        },
        {
          id: id('wasmtime', '48.0.8'),
          deps: [
            edge(id('rustix', '1.1.6'), { kind: null, target: 'cfg(unix)' }),
            edge(id('source-available', '0.3.0'), normal),
          ],
        },
        { id: id('fnv', '1.0.7'), deps: [edge(id('core_detect', '1.0.0'), dev, normal)] },
        { id: id('core_detect', '1.0.0'), deps: [] },
        { id: id('cc', '1.2.0'), deps: [] },
        { id: id('rustix', '1.1.6'), deps: [] },
        {
          id: id('tempfile', '3.23.0'),
          deps: [edge(id('rustix', '1.1.6'), normal), edge(id('fastrand', '2.5.0'), normal)],
        },
        { id: id('fastrand', '2.5.0'), deps: [] },
        { id: id('source-available', '0.3.0'), deps: [] },
      ],
    },
    target_directory: '/repo/task-driver/engine/target',
    version: 1,
    workspace_root: '/repo/task-driver/engine',
    metadata: null,
  }
}

const names = (list: { name: string }[]): string[] => list.map((p) => p.name).sort()

test('cargo metadata: the crates reachable through normal and build dependencies; dev-dependencies excluded', () => {
  const compiled = compiledCrates(parseCargoMetadata(metadata(), 'fixture'))
  assert.equal(compiled.graph, 'resolve')
  assert.deepEqual(names(compiled.ours), ['lean-wasm-host'])
  assert.deepEqual(names(compiled.crates), [
    'cc', // a build dependency is compiled (for the build script)
    'core_detect', // a dev- and normal dependency of fnv: the normal edge counts
    'fnv',
    'rustix', // also a dependency of tempfile, but wasmtime needs it
    'source-available',
    'wasmtime',
  ])
  assert.ok(!compiled.crates.some((c) => c.name === 'tempfile' || c.name === 'fastrand'))
})

test('without a resolve graph every package but ours is checked, and the scan says so', () => {
  const meta = parseCargoMetadata({ ...(metadata() as object), resolve: null }, 'fixture')
  const compiled = compiledCrates(meta)
  assert.equal(compiled.graph, 'packages')
  assert.equal(compiled.crates.length, 8)
  assert.ok(compiled.crates.some((c) => c.name === 'tempfile'))
  assert.ok(!compiled.crates.some((c) => c.name === 'lean-wasm-host'))
})

test('cargo metadata that is not: an input error', () => {
  for (const bad of [null, {}, { packages: [{ name: 'x' }], workspace_members: [] }]) {
    assert.throws(
      () => parseCargoMetadata(bad, 'fixture'),
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

  const meta = parseCargoMetadata(metadata(), 'fixture')
  const components = await crateComponents(compiledCrates(meta).crates, LOCK)
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

test('only a license_file: its text is classified; a crate with neither is unknown', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'licenses-crates-'))
  await writeFile(
    path.join(dir, 'LICENSE.txt'),
    'Permission is hereby granted, free of charge, to any person obtaining a copy of this software, subject to: The above copyright notice and this permission notice shall be included in all copies.\n',
  )
  const withFile = {
    ...pkg('quiet', '0.1.0', null, 'LICENSE.txt'),
    manifest_path: path.join(dir, 'Cargo.toml'),
  }
  const gone = { ...pkg('gone', '0.1.0', null, 'COPYING'), manifest_path: path.join(dir, 'Cargo.toml') }
  const bare = pkg('bare', '0.1.0', null)
  const meta = parseCargoMetadata(
    { packages: [withFile, gone, bare], workspace_members: [], resolve: null },
    'fixture',
  )
  const components = await crateComponents(meta.packages, LOCK)
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
  graph: 'resolve',
  ours: [{ name: 'lean-wasm-host', version: '0.1.0', licence: 'Apache-2.0' }],
  crates,
})

function report(components: Component[], allowList: AllowEntry[], over: Partial<Report>): Report {
  const { judgements, unusedAllowEntries } = applyPolicy(components, allowList)
  return { judgements, unusedAllowEntries, lockFiles: [], binaries: [], notBuilt: [], notes: [], ...over }
}

test('a crate under the Business Source License is refused; a reviewed crates allow-list entry applies', async () => {
  const meta = parseCargoMetadata(metadata(), 'fixture')
  const components = await crateComponents(compiledCrates(meta).crates, LOCK)
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
    'crates: 6 crates in task-driver/engine/Cargo.lock, 1 refused (0 allow-listed, 0 copyleft)',
  ])
  assert.match(
    formatReport(r, decision),
    /checked crates: task-driver\/engine\/Cargo\.toml for x86_64-unknown-linux-gnu \(6 crates: .*ours, not checked: lean-wasm-host 0\.1\.0, Apache-2\.0\)/,
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
