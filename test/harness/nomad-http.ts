// Minimal Nomad HTTP calls for infrastructure tests (the controller has its own client).
import { jsonCall } from './http-json.ts'

/** The ACL token header when NOMAD_TOKEN is set (useCloud puts the cloud's there); none otherwise. */
export function nomadHeaders(): Record<string, string> {
  const token = process.env.NOMAD_TOKEN
  return token ? { 'x-nomad-token': token } : {}
}

export function nomad<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  return jsonCall<T>('Nomad', nomadHeaders(), addr, method, path, body)
}
