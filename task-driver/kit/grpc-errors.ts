// Turns our errors into gRPC statuses Nomad understands. Every failure goes out
// as FAILED_PRECONDITION with a RecoverableError detail, so Nomad's restart
// tracker knows whether retrying can help (a bad digest never will).
import { Metadata, status, type ServiceError } from '@grpc/grpc-js'
import { encodeRecoverableErrorDetails, RECOVERABLE_ERROR_STATUS_CODE } from './proto/load.ts'

export function toServiceError(err: unknown): Partial<ServiceError> {
  // Our error classes (DriverError, VirtError) carry a stable LEAN_ERR_* code, some a `recoverable` flag.
  const coded = err as { code?: unknown; recoverable?: unknown } | undefined
  const code = typeof coded?.code === 'string' && coded.code.startsWith('LEAN_ERR_') ? coded.code : undefined
  const text = err instanceof Error ? err.message : String(err)
  const message = code ? `${text} (${code})` : text
  const recoverable = coded?.recoverable === true
  const metadata = new Metadata()
  metadata.set('grpc-status-details-bin', encodeRecoverableErrorDetails(message, recoverable))
  return { code: RECOVERABLE_ERROR_STATUS_CODE as status, details: message, message, metadata }
}

type Callback<T> = (err: Partial<ServiceError> | null, value?: T) => void

/** Adapts an async unary handler to grpc-js's callback form, mapping errors. */
export function unary<Req, Res>(fn: (request: Req) => Promise<Res> | Res) {
  return (call: { request: Req }, callback: Callback<Res>) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (value) => callback(null, value),
        (err: unknown) => callback(toServiceError(err)),
      )
  }
}
