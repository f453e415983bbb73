// The `vm` document: its shape is checked here, with defaults filled in, by
// the rules of its field table (document-fields.ts, VM_DOCUMENT); the
// renderer's own rules (digest, sizes, keys, labels) in vm.ts. Field names in
// errors are JSON paths in the document.
import { VM_DOCUMENT } from './document-fields.ts'
import { parsePlacement } from './placement.ts'
import {
  defined,
  ingress,
  object,
  readEnum,
  readInt,
  readMap,
  readObject,
  readString,
  readStrings,
  type Json,
} from './spec-fields.ts'
import { validateVm, type VmSpec } from './vm.ts'

/** The fields a vm document may have. */
export const VM_FIELDS = Object.keys(VM_DOCUMENT.fields)

/** The vm spec of the document stored for app `name` (already parsed as JSON). Throws SpecError. */
export function parseVmDocument(name: string, doc: unknown): VmSpec {
  const F = VM_DOCUMENT.fields
  const top: Json = object(doc, '$', VM_FIELDS)
  const image = readObject(F.image, top.image, 'image')
  const disk = readObject(F.disk, top.disk, 'disk')
  const CI = F.cloudInit.fields
  const cloudInit = readObject(F.cloudInit, top.cloudInit, 'cloudInit')
  const S = F.service.fields
  const service = readObject(F.service, top.service, 'service')
  const portMap = readMap(F.ports, top.ports, 'ports')
  const ports: Record<string, number> = Object.fromEntries(
    Object.entries(portMap ?? {}).map(([label, v]) => [label, readInt(F.ports.values, v, `ports.${label}`)]),
  )
  // cloud-config may be longer than other strings; jobs/vm.ts bounds it.
  const userData = readString(CI.userData, cloudInit?.userData, 'cloudInit.userData')
  const state = readEnum(F.state, top.state, 'state')
  const datacenters = readStrings(F.datacenters, top.datacenters, 'datacenters')
  const serviceName = service && (readString(S.name, service.name, 'service.name') ?? name)

  const vm: VmSpec = defined({
    name,
    image: defined({
      sha256: readString(F.image.fields.sha256, image.sha256, 'image.sha256'),
      source: readString(F.image.fields.source, image.source, 'image.source'),
    }),
    vcpus: readInt(F.vcpus, top.vcpus, 'vcpus'),
    // MHz; absent: the renderer's default per vCPU (jobs/vm.ts, DEFAULT_VM_CPU_MHZ).
    cpu: readInt(F.cpu, top.cpu, 'cpu'),
    memory: readString(F.memory, top.memory, 'memory'),
    disk: disk && { size: readString(F.disk.fields.size, disk.size, 'disk.size') },
    cloudInit:
      cloudInit &&
      defined({
        hostname: readString(CI.hostname, cloudInit.hostname, 'cloudInit.hostname'),
        userData,
        sshAuthorizedKeys: readStrings(
          CI.sshAuthorizedKeys,
          cloudInit.sshAuthorizedKeys,
          'cloudInit.sshAuthorizedKeys',
        ),
        commands: readStrings(CI.commands, cloudInit.commands, 'cloudInit.commands'),
      }),
    ports,
    service:
      service &&
      defined({
        name: serviceName!,
        port: readString(S.port, service.port, 'service.port'),
        checkPath: readString(S.checkPath, service.checkPath, 'service.checkPath'),
        checkIntervalSeconds: readInt(
          S.checkIntervalSeconds,
          service.checkIntervalSeconds,
          'service.checkIntervalSeconds',
        ),
      }),
    state,
    count: readInt(F.count, top.count, 'count'),
    datacenters,
    ingress: ingress(F.ingress, top.ingress, 'ingress', serviceName ?? name),
    egress: readStrings(F.egress, top.egress, 'egress'),
    placement: parsePlacement(top.spread, top.constraints),
  })
  validateVm(vm) // the renderer's own checks (digest, sizes, keys, labels), without rendering
  return vm
}
