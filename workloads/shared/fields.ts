// Field checks and names shared by the PDF service and the email worker, in
// the component and in the plain Node twin alike (web APIs only, no Node).

// Deliberately plain: one @, no spaces, a dot in the domain. SMTP decides the rest.
const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/
const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

export const isEmailAddress = (value: string): boolean => value.length <= 254 && ADDRESS.test(value)
export const isFileId = (value: string): boolean => FILE_ID.test(value)

/** Where a generated PDF lives in its bucket. */
export const pdfKey = (fileId: string): string => `pdfs/${fileId}.pdf`

/** A random (version 4) UUID; works where crypto.randomUUID does not exist. */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A JSON answer: status and body, independent of the HTTP framework. */
export interface Reply {
  readonly status: number
  readonly body: Record<string, unknown>
}

export const reply = (status: number, body: Record<string, unknown>): Reply => ({ status, body })

/** Parses a request body that must be a JSON object. */
export function jsonObject(raw: string): Record<string, unknown> | Reply {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return reply(400, { error: 'body: expected a JSON object', field: 'body' })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return reply(400, { error: 'body: expected a JSON object', field: 'body' })
  return value as Record<string, unknown>
}

export const isReply = (value: unknown): value is Reply => typeof value === 'object' && value !== null && 'status' in value && 'body' in value && Object.keys(value).length === 2
