// Minimal Consul HTTP calls for infrastructure tests (the controller has its own clients).
import { jsonCall } from './http-json.ts'

/** The ACL token header when CONSUL_HTTP_TOKEN is set (useCloud puts the cloud's there); none otherwise. */
export function consulHeaders(): Record<string, string> {
  const token = process.env.CONSUL_HTTP_TOKEN
  return token ? { 'x-consul-token': token } : {}
}

export function consul<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  return jsonCall<T>('Consul', consulHeaders(), addr, method, path, body)
}
