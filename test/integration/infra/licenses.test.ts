// The real licence gate on this repository: it passes, and it covered every
// package of both lock files, every binary build-binaries.sh reports built and
// the crates compiled into the wasm engine host; and it passes offline with a
// cargo cache that holds only what the engine host's build downloads.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { LOCK_FILES } from '../../../infra/licenses/cli.ts'
import { ENGINE_MANIFEST, ENGINE_PLATFORM, type CheckedCrates } from '../../../infra/licenses/crates.ts'
import type { Judgement } from '../../../infra/licenses/policy.ts'

const run = promisify(execFile)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The upstream module each binary is built from, and the licence of the pinned release. */
const upstream: Record<string, { module: string; licence: string }> = {
  consul: { module: 'github.com/hashicorp/consul', licence: 'MPL-2.0' },
  nomad: { module: 'github.com/hashicorp/nomad', licence: 'MPL-2.0' },
  seaweedfs: { module: 'github.com/seaweedfs/seaweedfs', licence: 'Apache-2.0' },
  opentofu: { module: 'github.com/opentofu/opentofu', licence: 'MPL-2.0' },
  // Our own provider: its main module is this repository's; the framework it is built on.
  'lean-provider': { module: 'github.com/hashicorp/terraform-plugin-framework', licence: 'MPL-2.0' },
}

/** What `npm run licenses -- --json` reports; on an error only the first four fields. */
interface JsonReport {
  exitCode: number
  failures: string[]
  lockFiles: string[]
  binaries: { name: string; path: string }[]
  notBuilt: string[]
  crates: CheckedCrates | null
  cratesUnchecked?: string
  exampleCrates: CheckedCrates[]
  exampleCratesUnchecked: string[]
  packages: Judgement[]
}

/**
 * Runs the gate with --json and returns its report. Output that is not JSON
 * fails the test with the gate's own words (its stderr), not a parse error.
 */
async function runGate(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<JsonReport> {
  const gate = await run(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'infra', 'licenses', 'cli.ts'), '--json', ...args],
    { cwd: repo, env, maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string; stderr?: string; code?: number }) => ({
    stdout: err.stdout ?? '',
    stderr: err.stderr ?? '',
  }))
  try {
    return JSON.parse(gate.stdout) as JsonReport
  } catch {
    return assert.fail(`the licence gate printed no report; it said:\n${gate.stderr.trim() || '(nothing)'}`)
  }
}

test(
  "the licence gate passes on the repository, covering both lock files, every built binary and the engine host's crates",
  { timeout: 600_000 },
  async () => {
    const printed = await run('bash', [
      path.join(repo, 'infra', 'build-binaries.sh'),
      '--print',
      'consul',
      'nomad',
      'seaweedfs',
      'opentofu',
      'lean-provider',
    ])
    const built = printed.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => l.slice(0, l.indexOf('=')))
      .sort()

    const report = await runGate([])
    assert.equal(report.exitCode, 0, `the gate refused:\n${report.failures.join('\n')}`)

    assert.deepEqual(report.lockFiles, LOCK_FILES)
    const listed = new Set(
      report.packages.filter((p) => p.ecosystem === 'npm').map((p) => `${p.name}@${p.version}`),
    )
    for (const lockFile of LOCK_FILES) {
      const lock = JSON.parse(await readFile(path.join(repo, lockFile), 'utf8')) as {
        packages: Record<string, { name?: string; version?: string; link?: boolean }>
      }
      const missing = Object.entries(lock.packages)
        .filter(([key, e]) => key !== '' && e.link !== true)
        .map(([key, e]) => `${e.name ?? key.slice(key.lastIndexOf('node_modules/') + 13)}@${e.version}`)
        .filter((id) => !listed.has(id))
      assert.deepEqual(missing, [], `${lockFile}: packages the gate did not list`)
    }

    assert.deepEqual(report.binaries.map((b) => b.name).sort(), built, 'every built binary was checked')
    for (const name of built) {
      assert.ok(!report.notBuilt.includes(name))
      const mine = report.packages.filter((p) => p.ecosystem === 'go' && p.usedBy.includes(name))
      assert.ok(
        mine.some((p) => p.name === 'std'),
        `${name}: the Go standard library is listed`,
      )
      const expected = upstream[name]
      if (expected === undefined) continue
      const module = mine.find((p) => p.name === expected.module)
      assert.ok(module, `${name}: ${expected.module} is listed`)
      assert.equal(module.licence, expected.licence, `${name}: ${expected.module} ${module.version}`)
      assert.equal(module.verdict, 'pass')
    }

    // The engine host's crates, from cargo metadata: each one is in its Cargo.lock.
    assert.ok(report.crates, `the crates were not checked: ${report.cratesUnchecked}`)
    assert.equal(report.crates.lockFile, 'task-driver/engine/Cargo.lock')
    assert.equal(report.crates.graph, 'tree')
    assert.deepEqual(
      report.crates.ours.map((o) => `${o.name} ${o.licence}`),
      ['lean-wasm-host Apache-2.0'],
    )
    const lockFile = report.crates.lockFile
    const crates = report.packages.filter((p) => p.ecosystem === 'crates' && p.usedBy.includes(lockFile))
    assert.equal(crates.length, report.crates.crates)
    const cargoLock = await readFile(path.join(repo, report.crates.lockFile), 'utf8')
    const locked = new Set(
      [...cargoLock.matchAll(/^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"/gm)].map(
        (m) => `${m[1]}@${m[2]}`,
      ),
    )
    assert.deepEqual(
      crates.map((c) => `${c.name}@${c.version}`).filter((c) => !locked.has(c)),
      [],
      'crates the gate listed that Cargo.lock does not pin',
    )
    const wasmtime = crates.find((c) => c.name === 'wasmtime')
    assert.ok(wasmtime, 'wasmtime is listed')
    assert.equal(wasmtime.version, '48.0.8')
    assert.equal(wasmtime.licence, 'Apache-2.0 WITH LLVM-exception')
    assert.equal(wasmtime.verdict, 'pass')

    // The Rust example's crates, when its build downloaded them (else a warning, not a failure).
    const example = report.exampleCrates.find((c) => c.lockFile === 'examples/rust-hello/Cargo.lock')
    if (example === undefined) {
      assert.match(report.exampleCratesUnchecked.join('\n'), /examples\/rust-hello\/Cargo\.lock/)
    } else {
      assert.equal(example.platform, 'wasm32-wasip2')
      const wasip2 = report.packages.find((p) => p.ecosystem === 'crates' && p.name === 'wasip2')
      assert.ok(wasip2, 'wasip2 is listed')
      assert.ok(wasip2.usedBy.includes(example.lockFile), 'for the example')
      assert.equal(wasip2.verdict, 'pass')
    }
  },
)

test(
  "the gate needs only the crates the engine host's build downloads: a fresh cargo home holding just those passes offline",
  { timeout: 600_000 },
  async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'lean-cargo-home-'))
    try {
      const env = { ...process.env, CARGO_HOME: home }
      const manifest = path.join(repo, ENGINE_MANIFEST)
      // `cargo tree` online, for the cloud's platform and without dev-dependencies, downloads
      // what `cargo build` of the engine host downloads: the same selection of packages.
      await run(
        'cargo',
        [
          'tree',
          '--locked',
          '--target',
          ENGINE_PLATFORM,
          '--edges',
          'normal,build',
          '--manifest-path',
          manifest,
        ],
        { cwd: repo, env, maxBuffer: 64 * 1024 * 1024 },
      )
      const cache = path.join(home, 'registry', 'cache')
      const fetched = (
        await Promise.all((await readdir(cache)).map((d) => readdir(path.join(cache, d))))
      ).flat()
      const lock = await readFile(path.join(repo, 'task-driver', 'engine', 'Cargo.lock'), 'utf8')
      const locked = [...lock.matchAll(/^source = "registry\+/gm)].length
      assert.ok(
        fetched.length > 0 && fetched.length < locked,
        `${fetched.length} of ${locked} locked crates downloaded`,
      )

      // The gate's former way, `cargo metadata --offline`, needs crates no build here downloads.
      const metadata = await run(
        'cargo',
        [
          'metadata',
          '--format-version',
          '1',
          '--locked',
          '--offline',
          '--filter-platform',
          ENGINE_PLATFORM,
          '--manifest-path',
          manifest,
        ],
        { cwd: repo, env, maxBuffer: 64 * 1024 * 1024 },
      ).then(
        () => 'passed',
        (err: { stderr?: string }) => err.stderr ?? 'failed',
      )
      assert.match(metadata, /--offline/, 'cargo metadata needs more than the build downloads')

      const report = await runGate(['--only', 'crates'], env)
      assert.equal(report.exitCode, 0, `the gate refused:\n${report.failures.join('\n')}`)
      assert.ok(report.crates, `the crates were not checked: ${report.cratesUnchecked}`)
      assert.ok(report.crates.crates > 100 && report.crates.crates <= fetched.length)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  },
)
