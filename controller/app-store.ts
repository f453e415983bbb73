// The app API's side of Consul KV: any app document (a wasm service or a vm)
// written and deleted with check-and-set, so a client that read a document at
// one specIndex never overwrites a change made since (another client, or
// `consul kv put` by hand). Every write is validated with the controller's own
// validator (parseAppSpec), so a refusal names the field as the controller
// would. The VM API (vm-store.ts) is the same for vm documents alone.
import { isDeepStrictEqual } from 'node:util'
import { parseAppSpec, SpecError } from '../jobs/app-spec.ts'
import { DEFAULT_APP_LIMITS, type AppLimits } from '../jobs/app-limits.ts'
import { ApiError, specInvalid } from './api-errors.ts'
import type { KvEntry } from './consul-kv.ts'
import { callsAs } from './caller-token.ts'
import { checkVmName, deleteChecked, writeChecked, type KvForCaller } from './vm-store.ts'

type Doc = Record<string, unknown>

export interface AppWrite {
  readonly name: string
  readonly specIndex: number
  /** The key did not exist before. */
  readonly created: boolean
  /** False when the stored document already was this one (nothing written). */
  readonly changed: boolean
}

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v)

function storedDocument(entry: KvEntry): unknown {
  try {
    return JSON.parse(entry.value)
  } catch {
    return undefined // not JSON: replacing it is a change
  }
}

export class AppStore {
  constructor(
    private readonly appsPrefix: string,
    private readonly kvAs: KvForCaller,
    /** The controller's ceilings: a document over them is refused before it is written. */
    private readonly limits: AppLimits = DEFAULT_APP_LIMITS,
  ) {}

  /**
   * Creates or replaces app `name`'s document with `body`, validated first.
   * `expected`: the specIndex the caller's change is based on (0: the app must
   * not exist yet); without it, a lost race reads again and retries.
   */
  async put(name: string, body: unknown, token: string, expected?: number): Promise<AppWrite> {
    const text = this.validated(checkVmName(name), body)
    const key = this.appsPrefix + name
    return writeChecked(callsAs(this.kvAs(token), `writing ${key}`), { what: 'app', name, key, expected }, (entry) =>
      entry && isDeepStrictEqual(storedDocument(entry), body) ? undefined : text,
    )
  }

  /** Deletes app `name`'s document; the controller then stops and purges its job. */
  async remove(name: string, token: string, expected?: number): Promise<void> {
    const key = this.appsPrefix + checkVmName(name)
    await deleteChecked(callsAs(this.kvAs(token), `deleting ${key}`), { what: 'app', name, key, expected })
  }

  /** Checks `body` as app `name`'s document without writing it: the text that would be stored. */
  validated(name: string, body: unknown): string {
    if (!isObject(body))
      throw new ApiError(
        400,
        'LEAN_ERR_SPEC_INVALID',
        '$: expected a JSON object (the app document)',
        '$',
        'expected a JSON object (the app document)',
      )
    const text = `${JSON.stringify(body, null, 2)}\n`
    try {
      parseAppSpec(name, text, this.limits)
    } catch (err) {
      if (err instanceof SpecError) throw specInvalid(err)
      throw err
    }
    return text
  }
}
