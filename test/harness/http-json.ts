// One JSON call to an agent's HTTP API for infrastructure tests (the
// controller has its own clients): the ACL header given, a JSON body when
// there is one, and an error naming the agent on a non-2xx answer.
export async function jsonCall<T>(agent: string, headers: Record<string, string>, addr: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${addr}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${agent} ${method} ${path} answered ${res.status}: ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}
