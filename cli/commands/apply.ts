// `leanctl apply`: validate locally, then write with Consul's check-and-set
// against the index we read, so a concurrent change is never overwritten. A
// document naming `component.file` has that component checked, validated with
// its sha256, and uploaded through the controller first (component-documents.ts).
import { isDeepStrictEqual } from 'node:util'
import { parseAppSpec } from '../../jobs/app-spec.ts'
import type { Kv } from '../apps.ts'
import { resolveComponentFile } from '../component-documents.ts'
import type { Context } from '../context.ts'
import { loadDocument } from '../documents.ts'
import { ConflictError } from '../errors.ts'
import { pushComponent } from './component.ts'

function sameDocument(stored: string, next: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(stored), JSON.parse(next))
  } catch {
    return false // what is stored is not JSON: replacing it is a change
  }
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged'

/**
 * Validates `json` as app `app` (SpecError: nothing is written), then
 * writes it unless the stored document is the same. Throws ConflictError
 * when the key changed since it was read.
 */
export async function applyDocument(kv: Pick<Kv, 'get' | 'set'>, appsPrefix: string, app: string, json: string): Promise<ApplyOutcome> {
  parseAppSpec(app, json)
  const key = appsPrefix + app
  const current = await kv.get(key)
  if (current && sameDocument(current.value, json)) return 'unchanged'
  // cas=0 writes only if the key is still absent; cas=N only if it is still at index N.
  const index = current?.modifyIndex ?? 0
  if (!(await kv.set(key, json, index))) {
    const was = index === 0 ? 'absent' : `at index ${index}`
    throw new ConflictError(
      `app/${app} was changed concurrently (${key} is no longer ${was}); nothing was written. Check it with 'leanctl get ${app}' and apply again`,
    )
  }
  return current ? 'configured' : 'created'
}

export async function apply(ctx: Context, file: string, app: string): Promise<number> {
  const { doc, component } = await resolveComponentFile(await loadDocument(file, () => ctx.io.readStdin()), file)
  if (component) {
    parseAppSpec(app, doc.json) // an invalid document uploads nothing
    ctx.io.out(`${(await pushComponent(ctx.controller, component)).line}\n`)
  }
  ctx.io.out(`app/${app} ${await applyDocument(ctx.kv, ctx.config.appsPrefix, app, doc.json)}\n`)
  return 0
}
