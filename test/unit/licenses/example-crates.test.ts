// The example components' crates in the gate: listed for their own platform,
// merged with the engine host's where name and version agree, and, when they
// cannot be listed, a warning that never fails the gate.
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { decide, formatReport, summaryLines, type Report } from '../../../infra/licenses/cli.ts'
import { cargoTreeArgs, type CheckedCrates } from '../../../infra/licenses/crates.ts'
import { EXAMPLE_PACKAGES, mergeCrates, readExampleCrates } from '../../../infra/licenses/example-crates.ts'
import { applyPolicy, type Component } from '../../../infra/licenses/policy.ts'

const crate = (name: string, version: string, usedBy: string): Component => ({
  ecosystem: 'crates',
  name,
  version,
  licence: 'MIT OR Apache-2.0',
  licenceSource: 'Cargo.toml license',
  usedBy: [usedBy],
})

const ENGINE_LOCK = 'task-driver/engine/Cargo.lock'
const EXAMPLE_LOCK = 'examples/rust-hello/Cargo.lock'

test('the example is listed for wasm32-wasip2, the engine host still for its own platform', () => {
  assert.deepEqual(
    EXAMPLE_PACKAGES.map((e) => [e.lockFile, e.platform]),
    [[EXAMPLE_LOCK, 'wasm32-wasip2']],
  )
  const args = cargoTreeArgs('examples/rust-hello/Cargo.toml', 'wasm32-wasip2')
  assert.equal(args[args.indexOf('--target') + 1], 'wasm32-wasip2')
  const engine = cargoTreeArgs('task-driver/engine/Cargo.toml')
  assert.equal(engine[engine.indexOf('--target') + 1], 'x86_64-unknown-linux-gnu')
})

test('a crate both use is one row naming both lock files; the others are added', () => {
  const components = [crate('bitflags', '2.13.2', ENGINE_LOCK), crate('wasmtime', '48.0.8', ENGINE_LOCK)]
  mergeCrates(components, [
    crate('bitflags', '2.13.2', EXAMPLE_LOCK),
    crate('wasip2', '2.0.1+wasi-0.2.12', EXAMPLE_LOCK),
  ])
  assert.deepEqual(
    components.map((c) => [c.name, c.usedBy]),
    [
      ['bitflags', [ENGINE_LOCK, EXAMPLE_LOCK]],
      ['wasmtime', [ENGINE_LOCK]],
      ['wasip2', [EXAMPLE_LOCK]],
    ],
  )
})

test('without cargo the example crates are not checked: a warning, even with --require-binaries', async () => {
  const scan = await readExampleCrates(tmpdir(), {
    cargo: path.join(tmpdir(), 'no-such-cargo-for-the-licence-gate'),
  })
  assert.deepEqual(scan.checked, [])
  assert.match(scan.unchecked.join('\n'), /^examples\/rust-hello\/Cargo\.lock: .*is not on PATH$/)

  const engine: CheckedCrates = {
    manifest: 'task-driver/engine/Cargo.toml',
    lockFile: ENGINE_LOCK,
    platform: 'x86_64-unknown-linux-gnu',
    graph: 'tree',
    ours: [],
    crates: 0,
  }
  const { judgements, unusedAllowEntries } = applyPolicy([], [])
  const report: Report = {
    judgements,
    unusedAllowEntries,
    lockFiles: [],
    binaries: [],
    notBuilt: [],
    notes: [],
    crates: engine,
    exampleCrates: [],
    exampleCratesUnchecked: scan.unchecked,
  }
  for (const requireBinaries of [false, true]) {
    const decision = decide(report, { requireBinaries })
    assert.equal(decision.exitCode, 0)
    assert.match(
      decision.warnings.join('\n'),
      /example crates not checked: examples\/rust-hello\/Cargo\.lock/,
    )
  }
  const checked = {
    ...report,
    exampleCrates: [
      {
        ...engine,
        manifest: 'examples/rust-hello/Cargo.toml',
        lockFile: EXAMPLE_LOCK,
        platform: 'wasm32-wasip2',
      },
    ],
  }
  assert.match(
    summaryLines(checked).join('\n'),
    /in task-driver\/engine\/Cargo\.lock and examples\/rust-hello\/Cargo\.lock/,
  )
  assert.match(
    formatReport(checked, decide(checked, { requireBinaries: false })),
    /checked crates: examples\/rust-hello\/Cargo\.toml for wasm32-wasip2/,
  )
})
