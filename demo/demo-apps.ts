// The seeds' lean cloud as app documents for Consul KV: 6 PDF services, 3
// email workers and one small VM (the tiny image: its page names its host).
// On one node the PDF service takes dynamic ports (six allocations cannot
// share a fixed 8080); clients reach it through the cloud's ingress at
// http://pdf.lean.localhost:<ingress port>/ (the PDF app and the VM ask for it),
// or find the ports through Consul's SRV records, or in the Nomad UI.
import { PDF_BUCKET } from '../ground/buckets.ts'

export const DEMO_APPS = ['pdf', 'email', 'hello-vm'] as const

export function demoApps(digests: {
  pdf: string
  email: string
  tinyImage: string
}): Record<(typeof DEMO_APPS)[number], object> {
  const components = digests
  return {
    pdf: {
      kind: 'wasm-service',
      component: { sha256: components.pdf },
      count: 6,
      port: 'dynamic',
      service: { checkPath: '/health' },
      instances: 4, // see pdfServiceSpec: the PDF service's requests also wait on S3 and PostgreSQL
      grants: { buckets: [PDF_BUCKET], requestLog: true, outbound: ['http://email.service.consul'] },
      // 4 instances × 192 MiB, plus 128 MiB for the host: the task's cgroup holds it to memoryMB.
      limits: { maxRequestBody: '8MiB', requestTimeout: '60s', instanceMemory: '192MiB' },
      env: { PDF_BUCKET },
      resources: { cpu: 400, memoryMB: 896 },
      ingress: true,
      // Over every node there is: one node lost takes a share of the six, not all of them.
      spread: true,
    },
    email: {
      kind: 'wasm-service',
      component: { sha256: components.email },
      count: 3,
      port: 'dynamic',
      service: { checkPath: '/health' },
      // Whom it may mail: name your own domains or addresses (the local cloud's SMTP delivers every message into its Maildir).
      grants: { buckets: [PDF_BUCKET], mail: ['example.com'] },
      env: { PDF_BUCKET },
      resources: { cpu: 150, memoryMB: 384 },
    },
    'hello-vm': {
      kind: 'vm',
      image: { sha256: digests.tinyImage },
      vcpus: 1,
      memory: '128MiB',
      cloudInit: { hostname: 'hello-vm' },
      ports: { http: 8080 },
      service: { port: 'http', checkPath: '/' },
      ingress: true,
    },
  }
}
