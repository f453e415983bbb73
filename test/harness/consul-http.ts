// Minimal Consul HTTP calls for infrastructure tests (the controller has its own clients).

/** The ACL token header when CONSUL_HTTP_TOKEN is set (useCloud puts the cloud's there); none otherwise. */
export function consulHeaders(): Record<string, string> {
  const token = process.env.CONSUL_HTTP_TOKEN
  return token ? { 'x-consul-token': token } : {}
}

export async function consul<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${addr}${path}`, {
    method,
    headers: { ...consulHeaders(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Consul ${method} ${path} answered ${res.status}: ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}
