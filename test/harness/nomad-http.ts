// Minimal Nomad HTTP calls for infrastructure tests (the controller has its own client).
import { jsonCall } from './http-json.ts'

/** The ACL token header when NOMAD_TOKEN is set (useCloud puts the cloud's there); none otherwise. */
export function nomadHeaders(): Record<string, string> {
  const token = process.env.NOMAD_TOKEN
  return token ? { 'x-nomad-token': token } : {}
}

/**
 * `path` in NOMAD_NAMESPACE (useCloud sets the cloud's managed namespace, so
 * the tests see the controller's jobs and run their own beside them), unless
 * it names a namespace itself.
 */
export function inNamespace(path: string): string {
  const namespace = process.env.NOMAD_NAMESPACE
  if (!namespace || /[?&]namespace=/.test(path)) return path
  return `${path}${path.includes('?') ? '&' : '?'}namespace=${encodeURIComponent(namespace)}`
}

export function nomad<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  return jsonCall<T>('Nomad', nomadHeaders(), addr, method, inNamespace(path), body)
}
