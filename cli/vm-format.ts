// How `leanctl vm` and `leanctl image` show the controller's answers as text:
// tables for the lists, a short report for one vm. Pure, so tested without a
// controller. (-o json|yaml print the answers as they are.)
import type { ImageView } from '../controller/image-store.ts'
import type { VmView } from '../controller/vm-api.ts'
import type { VmAllocationDetail } from '../controller/vm-runtime.ts'
import { formatTable } from './status-table.ts'

type Spec = {
  state?: string
  vcpus?: number
  memory?: string
  image?: { sha256?: string; source?: string }
}

const specOf = (v: VmView) => v.spec as Spec
const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : '-')

/** KiB, MiB or GiB with one decimal (bytes below 1 KiB), for image sizes. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${n} B`
}

export function formatVmTable(vms: readonly VmView[]): string {
  const rows = vms.map((v) => {
    const s = specOf(v)
    const running = v.allocations.filter((a) => a.clientStatus === 'running').length
    return [
      v.name,
      s.state ?? 'running',
      v.status?.phase ?? 'pending',
      `${running}/${v.status?.desired ?? '-'}`,
      String(s.vcpus ?? 1),
      s.memory ?? '256MiB',
      short(s.image?.sha256),
    ]
  })
  return formatTable(['NAME', 'STATE', 'PHASE', 'RUNNING', 'VCPUS', 'MEMORY', 'IMAGE'], rows)
}

function allocationLines(a: VmAllocationDetail): string[] {
  const ports = Object.entries(a.ports ?? {}).map(([label, at]) => `${label} ${at}`)
  const lines = [
    `allocation ${a.id.slice(0, 8)}  ${a.clientStatus} (task ${a.taskState ?? 'pending'})  node ${a.node ?? '-'}  accelerator ${a.accelerator ?? '-'}`,
    `  ports: ${ports.length > 0 ? ports.join(', ') : 'none'}`,
  ]
  if (a.lastEvent) lines.push(`  last event: ${a.lastEvent}`)
  if (a.console)
    lines.push(`  console (last ${a.console.length} lines):`, ...a.console.map((l) => `    ${l}`))
  return lines
}

export function formatVmView(v: VmView): string {
  const s = specOf(v)
  const status = v.status
  const lines = [
    `vm/${v.name}  state ${s.state ?? 'running'}  phase ${status?.phase ?? 'pending'}${status ? ` (healthy ${status.healthy}/${status.desired})` : ''}  specIndex ${v.specIndex}`,
    `image ${s.image?.sha256 ?? '-'}${s.image?.source ? ` (${s.image.source})` : ''}  vcpus ${s.vcpus ?? 1}  memory ${s.memory ?? '256MiB'}`,
  ]
  if (status?.lastError) lines.push(`last error: ${status.lastError}`)
  if (v.runtimeError) lines.push(`allocations unknown: ${v.runtimeError}`)
  else if (v.allocations.length === 0) lines.push('no allocations')
  for (const a of v.allocations) lines.push(...allocationLines(a as VmAllocationDetail))
  return `${lines.join('\n')}\n`
}

export function formatImageTable(images: readonly ImageView[]): string {
  const rows = images.map((i) =>
    'error' in i
      ? [i.sha256, '-', '-', '-', `unreadable: ${i.error}`]
      : [
          i.sha256,
          i.name,
          i.boot,
          formatBytes(i.size),
          i.files.every((f) => f.present)
            ? `${i.files.length} file${i.files.length === 1 ? '' : 's'}`
            : `${i.files.filter((f) => !f.present).length} of ${i.files.length} files missing`,
        ],
  )
  return formatTable(['SHA256', 'NAME', 'BOOT', 'SIZE', 'FILES'], rows)
}
