// Whether a .wasm file is a service component the engine can run: a
// component (not a core module) exporting wasi:http/incoming-handler, whose
// every import is an interface the engine provides (engine-interfaces.ts).
// The controller checks every upload with it, and leanctl before it uploads.
import { CORE_MODULE_PROBLEM, ComponentInspectError, inspectWasm, type ExternItem } from './component-inspect.ts'
import { ENGINE_INTERFACES, ENGINE_VERSIONS, HTTP_HANDLER, engineProvides, engineVersion, splitVersion } from './engine-interfaces.ts'

export interface ServiceComponent {
  readonly imports: readonly ExternItem[]
  readonly exports: readonly ExternItem[]
}

function isHandler(item: ExternItem): boolean {
  const split = splitVersion(item.name)
  return item.kind === 'instance' && split?.id === HTTP_HANDLER && engineVersion(split.version)
}

function missingHandler(exports: readonly ExternItem[]): string {
  const near = exports.filter((e) => e.name === HTTP_HANDLER || splitVersion(e.name)?.id === HTTP_HANDLER)
  const detail = near.length > 0 ? ` at ${ENGINE_VERSIONS} (it exports ${near.map((e) => `${e.name} (${e.kind})`).join(', ')})` : ''
  return `exports no ${HTTP_HANDLER}${detail}`
}

function unprovided(item: ExternItem): string {
  const split = splitVersion(item.name)
  const known = ENGINE_INTERFACES.includes(split?.id ?? item.name)
  return `imports ${item.name}, which the engine does not provide${known ? ` (it provides ${split?.id ?? item.name} at ${ENGINE_VERSIONS})` : ''}`
}

/**
 * The component's imports and exports when the engine can serve it; throws
 * ComponentInspectError naming every problem (MALFORMED, CORE_MODULE, or
 * UNSUPPORTED with one line for a missing handler and one per import).
 */
export function checkServiceComponent(bytes: Uint8Array): ServiceComponent {
  const found = inspectWasm(bytes)
  if (found.kind === 'core-module') throw new ComponentInspectError('LEAN_ERR_COMPONENT_CORE_MODULE', [CORE_MODULE_PROBLEM])
  const problems = [
    ...(found.exports.some(isHandler) ? [] : [missingHandler(found.exports)]),
    ...found.imports.filter((i) => !engineProvides(i.name)).map(unprovided),
  ]
  if (problems.length > 0) throw new ComponentInspectError('LEAN_ERR_COMPONENT_UNSUPPORTED', problems)
  return { imports: found.imports, exports: found.exports }
}
