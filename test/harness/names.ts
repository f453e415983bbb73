// Unique names for what a test creates, so reruns and parallel files never collide.
import { randomBytes } from 'node:crypto'

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}
