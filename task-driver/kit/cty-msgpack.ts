// Decodes the MessagePack that Nomad produces with go-cty from a config block
// (task `config {}` or the agent's `plugin "wasm" { config {} }`). Object keys
// arrive as strings, absent optional attributes as nil, numbers as the
// smallest integer encoding, a float64, or (for huge values) a decimal string.
import { decode, ExtensionCodec } from '@msgpack/msgpack'
import { DriverError } from './errors.ts'

// go-cty marks unknown values with extension types 0 and 12; they must never
// reach a driver, so we refuse them with a clear error instead of crashing.
const rejectUnknowns = new ExtensionCodec()
for (const type of [0, 12]) {
  rejectUnknowns.register({
    type,
    encode: () => null,
    decode: () => {
      throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'the config contains an unknown (not yet computed) value')
    },
  })
}

export function decodeCtyMsgpack(bytes: Uint8Array | undefined | null): Record<string, unknown> {
  if (!bytes || bytes.length === 0) return {}
  let value: unknown
  try {
    value = decode(bytes, { extensionCodec: rejectUnknowns, useBigInt64: false })
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `config is not valid MessagePack: ${(err as Error).message}`)
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'config root must be an object')
  }
  return unwrapDynamic(value) as Record<string, unknown>
}

/** A value of declared type `any` may come as [bin(type JSON), value]; keep the value. */
function unwrapDynamic(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length === 2 && value[0] instanceof Uint8Array) return unwrapDynamic(value[1])
    return value.map(unwrapDynamic)
  }
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapDynamic(v)]))
  }
  return value
}
