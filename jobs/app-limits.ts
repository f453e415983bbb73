// Ceilings on what an app may ask for, beyond the validator's own ranges: the
// controller's configuration sets them (LEAN_LIMIT_*, controller/config.ts),
// so an operator decides how much one document may take of a node. Every
// value over its ceiling is refused, naming the field, the ceiling and the
// variable that sets it. Pure.
import { parseSize } from '../ground/units.ts'
import { SpecError } from './errors.ts'
import type { VmSpec } from './vm.ts'
import type { WasmServiceSpec } from './wasm-service.ts'

export interface AppLimits {
  /** The largest request body a wasm service may take (its limits.maxRequestBody). */
  readonly maxRequestBodyBytes: number
  /** A VM's vCPUs, guest memory and disk. */
  readonly maxVmVcpus: number
  readonly maxVmMemoryBytes: number
  readonly maxVmDiskBytes: number
}

const MIB = 1024 ** 2
const GIB = 1024 ** 3

/** Safe for a small node; the controller's configuration overrides each. */
export const DEFAULT_APP_LIMITS: AppLimits = {
  maxRequestBodyBytes: 64 * MIB,
  maxVmVcpus: 4,
  maxVmMemoryBytes: 8 * GIB,
  maxVmDiskBytes: 256 * GIB,
}

/** The variable of each ceiling, for the refusal's text. */
export const LIMIT_VARIABLES: Readonly<Record<keyof AppLimits, string>> = {
  maxRequestBodyBytes: 'LEAN_LIMIT_REQUEST_BODY',
  maxVmVcpus: 'LEAN_LIMIT_VM_VCPUS',
  maxVmMemoryBytes: 'LEAN_LIMIT_VM_MEMORY',
  maxVmDiskBytes: 'LEAN_LIMIT_VM_DISK',
}

function over(field: string, limits: AppLimits, key: keyof AppLimits, what: string): never {
  throw new SpecError(field, `${what} is over this cloud's ceiling of ${limits[key]} (${LIMIT_VARIABLES[key]})`)
}

/** Refuses the first value of a valid app that is over its ceiling. */
export function checkAppLimits(app: { readonly service: WasmServiceSpec } | { readonly vm: VmSpec }, limits: AppLimits): void {
  if ('service' in app) {
    const body = app.service.limits?.maxRequestBody
    if (body !== undefined && parseSize(body) > limits.maxRequestBodyBytes)
      over('limits.maxRequestBody', limits, 'maxRequestBodyBytes', `${body}`)
    return
  }
  const vm = app.vm
  if (vm.vcpus > limits.maxVmVcpus) over('vcpus', limits, 'maxVmVcpus', `${vm.vcpus} vCPUs`)
  if (parseSize(vm.memory) > limits.maxVmMemoryBytes) over('memory', limits, 'maxVmMemoryBytes', vm.memory)
  if (vm.disk !== undefined && parseSize(vm.disk.size) > limits.maxVmDiskBytes)
    over('disk.size', limits, 'maxVmDiskBytes', vm.disk.size)
}
