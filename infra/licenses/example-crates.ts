// The crates of the example components (examples/rust-hello), for the
// platform they are built for. Read like the engine host's (cargo tree,
// offline), but they are not part of the cloud: when their crates have not
// been downloaded (`npm run build:examples` has not run here) or cargo is
// missing, the gate says they were not checked and still passes.
import { readCrates, type CheckedCrates, type CrateOptions } from './crates.ts'
import { LicenseError } from './errors.ts'
import type { Component } from './policy.ts'

/** Our example Cargo packages, relative to the repository, and the platform each is built for. */
export const EXAMPLE_PACKAGES = [
  {
    manifest: 'examples/rust-hello/Cargo.toml',
    lockFile: 'examples/rust-hello/Cargo.lock',
    platform: 'wasm32-wasip2',
  },
] as const

export interface ExampleCrateScan {
  checked: CheckedCrates[]
  /** One line per example whose crates were not checked, saying why. */
  unchecked: string[]
  components: Component[]
}

export async function readExampleCrates(
  repoDir: string,
  options: Pick<CrateOptions, 'cargo' | 'env'> = {},
): Promise<ExampleCrateScan> {
  const scan: ExampleCrateScan = { checked: [], unchecked: [], components: [] }
  for (const example of EXAMPLE_PACKAGES) {
    try {
      const crates = await readCrates(repoDir, { ...options, ...example })
      if (crates.checked) scan.checked.push(crates.checked)
      if (crates.unchecked !== undefined) scan.unchecked.push(`${example.lockFile}: ${crates.unchecked}`)
      scan.components.push(...crates.components)
    } catch (err) {
      if (!(err instanceof LicenseError)) throw err
      scan.unchecked.push(
        `${example.lockFile}: cargo tree --offline could not list its crates (npm run build:examples downloads them)`,
      )
    }
  }
  return scan
}

/**
 * `extra` added to `components`: a crate already there (same name and
 * version) gets the extra lock file in its usedBy instead of a second row.
 */
export function mergeCrates(components: Component[], extra: readonly Component[]): void {
  for (const crate of extra) {
    const same = components.find(
      (c) => c.ecosystem === crate.ecosystem && c.name === crate.name && c.version === crate.version,
    )
    if (same) same.usedBy = [...new Set([...same.usedBy, ...crate.usedBy])]
    else components.push(crate)
  }
}
