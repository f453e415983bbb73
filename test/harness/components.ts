// Components the driver tests run: hello (built from workloads/hello with the
// pinned toolchain, rebuilt only when its sources change) and a component
// whose start function traps (assembled from WAT), and the capability probe.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { buildComponentIfChanged } from '../../workloads/build-component.ts'

const run = promisify(execFile)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dist = path.join(repo, 'workloads', 'dist')
const jco = path.join(repo, 'workloads', 'toolchain', 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js')

export interface TestComponent {
  readonly file: string
  readonly sha256: string
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex')
}

/** Builds a component from `<dir>/src` and `<dir>/wit`, again only when those (or `alsoReads`, or the build) change. */
async function builtFromSource(name: string, dir: string, alsoReads: readonly string[] = []): Promise<TestComponent> {
  const built = await buildComponentIfChanged(name, dir, alsoReads)
  return { file: built.file, sha256: built.sha256 }
}

/** The hello component; components live outside the alloc dir so every test can read them. */
export function helloComponent(): Promise<TestComponent> {
  return builtFromSource('hello', path.join(repo, 'workloads', 'hello'))
}

const shared = path.join(repo, 'workloads', 'shared')

/** The PDF service component (workloads/pdf). */
export function pdfComponent(): Promise<TestComponent> {
  return builtFromSource('pdf', path.join(repo, 'workloads', 'pdf'), [shared])
}

/** The email worker component (workloads/email). */
export function emailComponent(): Promise<TestComponent> {
  return builtFromSource('email', path.join(repo, 'workloads', 'email'), [shared])
}

/** A valid component whose core start function executes `unreachable`. */
export async function trapAtStartComponent(): Promise<TestComponent> {
  const dir = path.join(dist, 'trap')
  await mkdir(dir, { recursive: true })
  const wat = path.join(dir, 'trap.wat')
  await writeFile(wat, '(module\n  (func $boom unreachable)\n  (start $boom))\n')
  await run(process.execPath, [jco, 'parse', wat, '-o', path.join(dir, 'trap.core.wasm')])
  await run(process.execPath, [jco, 'new', path.join(dir, 'trap.core.wasm'), '-o', path.join(dir, 'trap.wasm')])
  return { file: path.join(dir, 'trap.wasm'), sha256: await sha256Of(path.join(dir, 'trap.wasm')) }
}

/** The fonts probe (test/fixtures/fonts-probe): calls lean:text/fonts with what a hostile guest might send. */
export function fontsProbeComponent(): Promise<TestComponent> {
  return builtFromSource('fonts-probe', path.join(repo, 'test', 'fixtures', 'fonts-probe'))
}

/** The capability probe (test/fixtures/capability-probe). */
export function capabilityProbeComponent(): Promise<TestComponent> {
  return builtFromSource('capability-probe', path.join(repo, 'test', 'fixtures', 'capability-probe'))
}
