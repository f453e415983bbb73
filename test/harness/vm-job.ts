// Nomad jobs that run a VM under the virt driver, the tiny image they boot
// (built by the image builder, uploaded to the tests' S3 by digest), and
// probes of what a VM leaves on the node: its domain and its QEMU process.
import { readdir, readFile } from 'node:fs/promises'
import { libvirtUri } from '../../infra/cloud/agents/libvirt.ts'
import type { CloudConfig } from '../../infra/cloud/config.ts'
import { imagePaths } from '../../infra/images/paths.ts'
import { publishImage } from '../../infra/images/publish.ts'
import { buildTiny } from '../../infra/images/tiny.ts'
import type { ImageManifest } from '../../ground/image-manifest.ts'
import { virsh } from '../../task-driver/virt/virsh.ts'
import { s3FromEnv } from '../../infra/components/publish.ts'
import { httpService, serviceJob } from './nomad-job.ts'

export interface TestImage {
  readonly sha256: string
  readonly manifest: ImageManifest
  /** The manifest in the local image store (inside the driver's image_paths). */
  readonly manifestFile: string
}

let tiny: Promise<TestImage> | undefined

/** The tiny image, built (or taken from the build cache) and present in the cloud's S3 under its digest. */
export function tinyImage(env: Readonly<Record<string, string>>): Promise<TestImage> {
  tiny ??= (async () => {
    const paths = imagePaths()
    const built = await buildTiny(paths, { rebuild: false, updatePins: false })
    await publishImage(s3FromEnv(env, 'publisher'), paths, built)
    return { sha256: built.sha256, manifest: built.manifest, manifestFile: built.manifestFile }
  })()
  return tiny
}

export interface VmJobOptions {
  readonly count?: number
  readonly memoryMB?: number
  readonly config?: Record<string, unknown>
  /** Nomad's restart policy: the tests that kill a VM want it restarted; the others fail fast. */
  readonly restarts?: number
  readonly service?: boolean
}

export function vmJob(id: string, image: { readonly sha256: string }, o: VmJobOptions = {}) {
  const attempts = o.restarts ?? 0
  return serviceJob(id, {
    Name: 'vm',
    Count: o.count ?? 1,
    Networks: [{ DynamicPorts: [{ Label: 'http', To: 8080 }] }],
    RestartPolicy: { Attempts: attempts, Interval: 600e9, Delay: 1e9, Mode: 'fail' },
    ReschedulePolicy: { Attempts: 0, Unlimited: false },
    Services: o.service === false ? [] : [httpService(id)],
    Tasks: [
      {
        Name: 'vm',
        Driver: 'virt',
        Config: { image_sha256: image.sha256, ports: ['http'], ...o.config },
        Resources: { CPU: 100, MemoryMB: o.memoryMB ?? 128 },
        KillTimeout: 20e9,
      },
    ],
  })
}

/** The names of the domains the cloud's libvirtd runs. */
export async function runningDomains(config: CloudConfig): Promise<string[]> {
  const out = await virsh(libvirtUri(config.dataDir), ['list', '--name'])
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
}

/** The domain of one allocation's task (the driver names it `lc-<alloc id prefix>-<task>`). */
export async function domainOf(config: CloudConfig, allocId: string): Promise<string | undefined> {
  return (await runningDomains(config)).find((d) => d.startsWith(`lc-${allocId.slice(0, 8)}-`))
}

/** Live QEMU processes of a domain. */
export async function qemuPids(domain: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')
    const i = args.indexOf('-name')
    if (
      i >= 0 &&
      args[0]?.includes('qemu-system') &&
      (args[i + 1] === `guest=${domain}` || args[i + 1]?.startsWith(`guest=${domain},`))
    )
      pids.push(Number(entry))
  }
  return pids
}
