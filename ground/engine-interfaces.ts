// The WASI interfaces the wasm engine gives a guest, as data. The engine
// (task-driver/engine, src/guest.rs) links wasmtime_wasi::p2::add_to_linker_async
// and wasmtime_wasi_http::p2::add_only_http_to_linker_async of wasmtime 48.0.8.
// Read off those crates' sources: the add_to_linker calls in
// wasmtime-wasi-48.0.8/src/p2/mod.rs and wasmtime-wasi-http-48.0.8/src/p2/mod.rs,
// and their WIT (wasmtime-wasi-48.0.8/src/p2/wit/deps/*.wit,
// wasmtime-wasi-http-48.0.8/wit/deps/http.wit), whose packages are all
// @0.2.12. Left out on purpose: wasi:clocks/timezone (@unstable, not linked),
// wasi:cli/run and wasi:http/incoming-handler (exports, not imports).
// Update this list when the engine's wasmtime moves.

/** The engine's WASI packages: 0.2.0 up to this patch (wasmtime links 0.2.x imports to its own 0.2.12). */
export const ENGINE_WASI_MAX_PATCH = 12

export const ENGINE_INTERFACES: readonly string[] = [
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:filesystem/types',
  'wasi:filesystem/preopens',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:sockets/network',
  'wasi:sockets/instance-network',
  'wasi:sockets/ip-name-lookup',
  'wasi:sockets/tcp',
  'wasi:sockets/tcp-create-socket',
  'wasi:sockets/udp',
  'wasi:sockets/udp-create-socket',
  'wasi:http/types',
  'wasi:http/outgoing-handler',
]

/**
 * The engine's own interfaces, by exact name and version (task-driver/engine/wit):
 * the platform's fonts, for components that lay out text (src/text.rs).
 */
export const ENGINE_OWN_INTERFACES: readonly string[] = ['lean:text/fonts@0.1.0']

/** What a service component must export: the engine serves each request through it. */
export const HTTP_HANDLER = 'wasi:http/incoming-handler'

/** `0.2.0` … `0.2.<max>`, and `0.2` (a canonical name whose patch is only in a version-suffix attribute it left out). */
export const ENGINE_VERSIONS = `0.2.0 to 0.2.${ENGINE_WASI_MAX_PATCH}`

/** `wasi:io/poll@0.2.3` → the interface and version; undefined without a version. */
export function splitVersion(name: string): { readonly id: string; readonly version: string } | undefined {
  const at = name.lastIndexOf('@')
  return at <= 0 ? undefined : { id: name.slice(0, at), version: name.slice(at + 1) }
}

/** A version the engine's 0.2.12 packages answer for. */
export function engineVersion(version: string): boolean {
  const m = /^0\.2(?:\.(0|[1-9]\d*))?$/.exec(version)
  return m !== null && (m[1] === undefined || Number(m[1]) <= ENGINE_WASI_MAX_PATCH)
}

/** Whether the engine provides the import named `name` (interface and version). */
export function engineProvides(name: string): boolean {
  if (ENGINE_OWN_INTERFACES.includes(name)) return true
  const split = splitVersion(name)
  return split !== undefined && ENGINE_INTERFACES.includes(split.id) && engineVersion(split.version)
}
