// Reads a component's bytes from a stream, giving up as soon as they pass the
// plugin's component_max_size: an oversized source is never read whole.
import { DriverError } from '../kit/errors.ts'

export function tooLarge(what: string, maxBytes: number): DriverError {
  return new DriverError(
    'LEAN_ERR_COMPONENT_TOO_LARGE',
    `${what} is larger than the wasm plugin's component_max_size (${maxBytes} bytes); refusing to fetch it`,
  )
}

/** All of `stream`, or TOO_LARGE the moment it passes `maxBytes` (leaving the loop destroys a Readable). */
export async function readCapped(
  stream: AsyncIterable<Uint8Array>,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge(what, maxBytes)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
  }
  return Buffer.concat(chunks, size)
}
