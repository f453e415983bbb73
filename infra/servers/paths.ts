// Where things live on a real server: the rendered files in /etc/lean-cloud,
// the checkout and stable links to the built programs in installDir, and the
// build cache (binaries, the VM image store) under installDir too, not in
// root's home, where the hardened units could not reach it.
import path from 'node:path'
import type { Inventory } from './inventory.ts'
import { ETC_DIR } from './plan.ts'

/** The programs cluster:prepare links into installDir/bin: build-binaries.sh's names, node, and PostgreSQL's server. */
export const LINKED_PROGRAMS = ['consul', 'nomad', 'seaweedfs', 'wasm-host', 'node', 'postgres'] as const
export type LinkedProgram = (typeof LINKED_PROGRAMS)[number]

export function serverPaths(inventory: Inventory) {
  const i = inventory.installDir
  return {
    etc: ETC_DIR,
    consulConfig: path.join(ETC_DIR, 'consul.json'),
    nomadConfig: path.join(ETC_DIR, 'nomad.hcl'),
    /** The operator's variables on this server (management tokens): source it to use consul, nomad, leanctl. */
    envFile: path.join(ETC_DIR, 'lean-cloud.env'),
    /** The controller's own variables (its least-privilege Consul token, no management token). */
    controllerEnv: path.join(ETC_DIR, 'controller.env'),
    /** The controller's Nomad token, which Nomad issues: cluster:init writes it. */
    controllerTokenEnv: path.join(ETC_DIR, 'controller-token.env'),
    inventory: path.join(ETC_DIR, 'inventory.json'),
    /** The rendered certificates, which cluster:prepare installs into dataDir/tls. */
    tls: path.join(ETC_DIR, 'tls'),
    credentials: path.join(ETC_DIR, 'credentials.json'),
    /** The S3 volume server's security.toml (JWT keys, mTLS), which cluster:prepare installs into its data dir. */
    s3VolumeSecurity: path.join(ETC_DIR, 's3-volume-security.toml'),
    units: path.join(ETC_DIR, 'systemd'),
    bin: (program: LinkedProgram) => path.join(i, 'bin', program),
    /** LEAN_CLOUD_CACHE for the builds on the server. */
    cache: path.join(i, 'cache'),
    imageStore: path.join(i, 'cache', 'images', 'store'),
  }
}
