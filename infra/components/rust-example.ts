// Builds examples/rust-hello into a wasi:http component with cargo for
// rustup's wasm32-wasip2 target (whose rustc output is a component already),
// from the crates its Cargo.lock pins. Cached by its sources and rustc's version.
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
export const RUST_EXAMPLE = path.join(repo, 'examples', 'rust-hello')
export const RUST_TARGET = 'wasm32-wasip2'
const NAME = 'rust-hello'
/** What cargo names the cdylib of package rust-hello. */
const OUTPUT = 'rust_hello.wasm'

const RUSTUP = "Install Rust with rustup (https://rustup.rs): Debian's rustc has no wasm32-wasip2 target."

export async function buildRustHello(progress: Progress = printProgress): Promise<BuiltComponent> {
  const why = `building ${NAME} (examples/rust-hello)`
  // Asked in the example's folder, so a rust-toolchain file there would count.
  const rustc = await toolVersion('rustc', ['--version'], why, RUSTUP, RUST_EXAMPLE)
  await toolVersion('cargo', ['--version'], why, RUSTUP, RUST_EXAMPLE)
  await toolVersion(
    'rustup',
    ['--version'],
    `${why} (to add the ${RUST_TARGET} target)`,
    RUSTUP,
    RUST_EXAMPLE,
  )
  const inputs = [
    path.join(RUST_EXAMPLE, 'Cargo.toml'),
    path.join(RUST_EXAMPLE, 'Cargo.lock'),
    ...(await filesUnder(path.join(RUST_EXAMPLE, 'src'))),
    fileURLToPath(import.meta.url),
  ]
  const key = await inputsKey(repo, inputs, [rustc, RUST_TARGET])
  const hit = await cachedComponent(NAME, key)
  if (hit) return hit

  const logs = path.join(componentsDir(), 'logs')
  const started = Date.now()
  // Always asked: a machine may have rustup without the target, and when it
  // is there already rustup only says so.
  progress(
    `${NAME}: rustup target add ${RUST_TARGET} (a fresh machine downloads the target's standard library once)`,
  )
  await runStep(`rustup target add ${RUST_TARGET}`, 'rustup', ['target', 'add', RUST_TARGET], {
    cwd: RUST_EXAMPLE,
    log: path.join(logs, `${NAME}-rustup.log`),
    progress,
    hint: "rustup downloads the target from the Rust project's servers: is the network up?",
  })
  const targetDir = path.join(cacheRoot(), 'cargo-target', 'examples')
  progress(
    `${NAME}: cargo build --release --locked --target ${RUST_TARGET} (the first build downloads its crates from crates.io)`,
  )
  await runStep('cargo build', 'cargo', ['build', '--release', '--locked', '--target', RUST_TARGET], {
    cwd: RUST_EXAMPLE,
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    log: path.join(logs, `${NAME}-cargo-${key}.log`),
    progress,
  })
  const built = await storeComponent(NAME, key, path.join(targetDir, RUST_TARGET, 'release', OUTPUT))
  progress(`${NAME}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return built
}
