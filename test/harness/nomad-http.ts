// Minimal Nomad HTTP calls for infrastructure tests (the controller has its own client).

/** The ACL token header when NOMAD_TOKEN is set (useCloud puts the cloud's there); none otherwise. */
export function nomadHeaders(): Record<string, string> {
  const token = process.env.NOMAD_TOKEN
  return token ? { 'x-nomad-token': token } : {}
}

export async function nomad<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${addr}${path}`, {
    method,
    headers: { ...nomadHeaders(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Nomad ${method} ${path} answered ${res.status}: ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}
