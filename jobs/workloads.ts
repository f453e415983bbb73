// The product's two services as typed specs for the wasm service renderer.
// The seeds' shape is 6 PDF instances on fixed port 8080 and 3 email workers
// on dynamic ports; a one-node cloud fits one allocation per fixed port, so
// callers choose the port (see placementProblem).
import type { WasmServiceSpec } from './wasm-service.ts'

import { PDF_BUCKET } from '../ground/buckets.ts'

export interface WorkloadOptions {
  readonly sha256: string
  /** Where clients fetch the component; default the artifacts bucket by digest. */
  readonly source?: string
  readonly count?: number
  readonly port?: WasmServiceSpec['port']
  /** Job name and Consul service name. */
  readonly name?: string
  readonly instances?: number
  readonly env?: Readonly<Record<string, string>>
  /** The email worker's mail grant: addresses or domains; default example.com. */
  readonly mailTo?: readonly string[]
}

export function pdfServiceSpec(o: WorkloadOptions): WasmServiceSpec {
  const name = o.name ?? 'pdf'
  return {
    name,
    component: { sha256: o.sha256, ...(o.source && { source: o.source }) },
    count: o.count ?? 6,
    port: o.port ?? { static: 8080 },
    service: { name, checkPath: '/health' },
    // A request waits on its capability calls (S3, PostgreSQL) as well as
    // computing, so more instances than cores overlap the waits
    // (bench:workloads on 2 cores: 2 instances 0.21x the Node twin, 4: 0.28x).
    instances: o.instances ?? 4,
    grants: { buckets: [PDF_BUCKET], requestLog: true, outbound: [`http://${o.env?.EMAIL_SERVICE ?? 'email'}.service.consul`] },
    // 1 MB of text may take up to 6 MB as JSON (\u escapes); the service itself answers 413 past its text limit.
    // Every instance may grow to instanceMemory; the task's memory holds them all plus the host (128 MiB).
    limits: { maxRequestBody: '8MiB', requestTimeout: '60s', instanceMemory: '192MiB' },
    env: { PDF_BUCKET, ...o.env },
    resources: { cpu: 500, memoryMB: 896 },
    placement: { spread: true },
  }
}

export function emailWorkerSpec(o: WorkloadOptions): WasmServiceSpec {
  const name = o.name ?? 'email'
  return {
    name,
    component: { sha256: o.sha256, ...(o.source && { source: o.source }) },
    count: o.count ?? 3,
    port: o.port ?? 'dynamic',
    service: { name, checkPath: '/health' },
    instances: o.instances ?? 1,
    // Whom the worker mails: the tests' and the demo's recipients are at example.com (delivered into the cloud's Maildir).
    grants: { buckets: [PDF_BUCKET], mail: [...(o.mailTo ?? ['example.com'])] },
    env: { PDF_BUCKET, ...o.env },
    resources: { cpu: 200, memoryMB: 384 },
  }
}
