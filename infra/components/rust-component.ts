// Builds a Rust crate into a wasi:http component with cargo for rustup's
// wasm32-wasip2 target (whose rustc output is a component already), from the
// crates its Cargo.lock pins. Cached by its sources, rustc's version and the
// build scripts; the crate's own folder is never written to (the target
// directory is in the cache).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printProgress, runStep, toolVersion, type Progress } from './build-step.ts'
import {
  cacheRoot,
  cachedComponent,
  componentsDir,
  filesUnder,
  inputsKey,
  storeComponent,
  type BuiltComponent,
} from './component-cache.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const RUST_TARGET = 'wasm32-wasip2'

const RUSTUP = "Install Rust with rustup (https://rustup.rs): Debian's rustc has no wasm32-wasip2 target."

export interface RustCrate {
  /** The cache's name for it: <name>-<key>.wasm. */
  readonly name: string
  /** The crate's folder (Cargo.toml, Cargo.lock, src/). */
  readonly dir: string
  /** What cargo names the cdylib: the package name with `_` for `-`, plus .wasm. */
  readonly output: string
  /** Build scripts besides this one whose change must rebuild it. */
  readonly scripts?: readonly string[]
}

export async function buildRustComponent(
  crate: RustCrate,
  progress: Progress = printProgress,
): Promise<BuiltComponent> {
  const { name, dir } = crate
  const why = `building ${name} (${path.relative(repo, dir)})`
  // Asked in the crate's folder, so a rust-toolchain file there would count.
  const rustc = await toolVersion('rustc', ['--version'], why, RUSTUP, dir)
  await toolVersion('cargo', ['--version'], why, RUSTUP, dir)
  await toolVersion('rustup', ['--version'], `${why} (to add the ${RUST_TARGET} target)`, RUSTUP, dir)
  const inputs = [
    path.join(dir, 'Cargo.toml'),
    path.join(dir, 'Cargo.lock'),
    ...(await filesUnder(path.join(dir, 'src'))),
    fileURLToPath(import.meta.url),
    ...(crate.scripts ?? []),
  ]
  const key = await inputsKey(repo, inputs, [rustc, RUST_TARGET])
  const hit = await cachedComponent(name, key)
  if (hit) return hit

  const logs = path.join(componentsDir(), 'logs')
  const started = Date.now()
  // Always asked: a machine may have rustup without the target, and when it
  // is there already rustup only says so.
  progress(
    `${name}: rustup target add ${RUST_TARGET} (a fresh machine downloads the target's standard library once)`,
  )
  await runStep(`rustup target add ${RUST_TARGET}`, 'rustup', ['target', 'add', RUST_TARGET], {
    cwd: dir,
    log: path.join(logs, `${name}-rustup.log`),
    progress,
    hint: "rustup downloads the target from the Rust project's servers: is the network up?",
  })
  const targetDir = path.join(cacheRoot(), 'cargo-target', 'examples')
  progress(
    `${name}: cargo build --release --locked --target ${RUST_TARGET} (the first build downloads its crates from crates.io)`,
  )
  await runStep('cargo build', 'cargo', ['build', '--release', '--locked', '--target', RUST_TARGET], {
    cwd: dir,
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    log: path.join(logs, `${name}-cargo-${key}.log`),
    progress,
  })
  const built = await storeComponent(name, key, path.join(targetDir, RUST_TARGET, 'release', crate.output))
  progress(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return built
}
