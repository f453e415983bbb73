// The `vm` document: its shape is checked here, with defaults filled in; the
// renderer's own rules (digest, sizes, keys, labels) in vm.ts. Field names in
// errors are JSON paths in the document.
import { parsePlacement } from './placement.ts'
import {
  noControls,
  APP_NAME,
  defined,
  fail,
  ingress,
  int,
  object,
  str,
  strings,
  type Json,
} from './spec-fields.ts'
import { MAX_VM_CPU_MHZ, MIN_VM_CPU_MHZ, validateVm, type VmSpec, type VmState } from './vm.ts'

export const VM_FIELDS = [
  'kind',
  'image',
  'vcpus',
  'cpu',
  'memory',
  'disk',
  'cloudInit',
  'ports',
  'service',
  'state',
  'count',
  'datacenters',
  'ingress',
  'egress',
  'spread',
  'constraints',
]

/** The vm spec of the document stored for app `name` (already parsed as JSON). Throws SpecError. */
export function parseVmDocument(name: string, doc: unknown): VmSpec {
  const top: Json = object(doc, '$', VM_FIELDS)
  if (top.image === undefined) fail('image', 'required: { "sha256": "<the image manifest\'s digest>" }')
  const image = object(top.image, 'image', ['sha256', 'source'])
  const disk = top.disk === undefined ? undefined : object(top.disk, 'disk', ['size'])
  const cloudInit =
    top.cloudInit === undefined
      ? undefined
      : object(top.cloudInit, 'cloudInit', ['hostname', 'userData', 'sshAuthorizedKeys', 'commands'])
  const service =
    top.service === undefined
      ? undefined
      : object(top.service, 'service', ['name', 'port', 'checkPath', 'checkIntervalSeconds'])
  let ports: Record<string, number> = {}
  if (top.ports !== undefined) {
    const p = object(top.ports, 'ports', Object.keys(top.ports as object))
    ports = Object.fromEntries(
      Object.entries(p).map(([label, v]) => [
        label,
        int(v, `ports.${label}`, 1, 65535) ?? fail(`ports.${label}`, 'required'),
      ]),
    )
  }
  // cloud-config may be longer than str()'s 4096 characters; jobs/vm.ts bounds it.
  const userData = cloudInit?.userData
  if (userData !== undefined && typeof userData !== 'string') fail('cloudInit.userData', 'expected a string')
  if (typeof userData === 'string') noControls(userData, 'cloudInit.userData', true)
  const state: VmState =
    top.state === undefined || top.state === 'running' || top.state === 'stopped'
      ? (top.state ?? 'running')
      : fail('state', `expected "running" or "stopped", got ${JSON.stringify(top.state)?.slice(0, 40)}`)
  const datacenters = strings(
    top.datacenters,
    'datacenters',
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
    'a datacenter name',
  )
  if (datacenters?.length === 0) fail('datacenters', 'expected at least one datacenter')
  const serviceName =
    service &&
    (str(service.name, 'service.name', APP_NAME, 'a DNS label: lower-case letters, digits and dashes') ??
      name)

  const vm: VmSpec = defined({
    name,
    image: defined({
      sha256:
        str(
          image.sha256,
          'image.sha256',
          /^[0-9a-f]{64}$/,
          "64 lower-case hexadecimal characters (the image manifest's digest)",
        ) ?? fail('image.sha256', 'required'),
      source: str(image.source, 'image.source'),
    }),
    vcpus: int(top.vcpus, 'vcpus', 1, 64) ?? 1,
    // MHz; absent: the renderer's default per vCPU (jobs/vm.ts, DEFAULT_VM_CPU_MHZ).
    cpu: int(top.cpu, 'cpu', MIN_VM_CPU_MHZ, MAX_VM_CPU_MHZ),
    memory: str(top.memory, 'memory') ?? '256MiB',
    disk: disk && { size: str(disk.size, 'disk.size') ?? fail('disk.size', 'required (or leave out disk)') },
    cloudInit:
      cloudInit &&
      defined({
        hostname: str(cloudInit.hostname, 'cloudInit.hostname'),
        userData: userData as string | undefined,
        sshAuthorizedKeys: strings(cloudInit.sshAuthorizedKeys, 'cloudInit.sshAuthorizedKeys'),
        commands: strings(cloudInit.commands, 'cloudInit.commands'),
      }),
    ports,
    service:
      service &&
      defined({
        name: serviceName!,
        port: str(service.port, 'service.port') ?? fail('service.port', 'required: a label from ports'),
        checkPath: str(service.checkPath, 'service.checkPath'),
        checkIntervalSeconds: int(service.checkIntervalSeconds, 'service.checkIntervalSeconds', 1, 3600),
      }),
    state,
    count: int(top.count, 'count', 0, 100) ?? 1,
    datacenters,
    ingress: ingress(top.ingress, 'ingress', serviceName ?? name),
    egress: strings(top.egress, 'egress', APP_NAME, 'a Consul service name'),
    placement: parsePlacement(top.spread, top.constraints),
  })
  validateVm(vm) // the renderer's own checks (digest, sizes, keys, labels), without rendering
  return vm
}
