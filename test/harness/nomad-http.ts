// Minimal Nomad HTTP calls for infrastructure tests (the controller has its own client).
export async function nomad<T>(addr: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${addr}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Nomad ${method} ${path} answered ${res.status}: ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}
