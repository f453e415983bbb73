// The VM API's side of Consul KV: `vm` documents read, written and deleted
// with check-and-set, so KV stays the one source of truth and the controller
// reconciles what is written exactly as if an operator had written it. Every
// write is validated with the controller's own validator (parseAppSpec).
// A caller's `expected` index (If-Match) is checked as is; without one, a
// write that loses a race reads again and retries a few times.
import { isDeepStrictEqual } from 'node:util'
import { APP_NAME, SpecError, parseAppSpec } from '../jobs/app-spec.ts'
import { DEFAULT_APP_LIMITS, type AppLimits } from '../jobs/app-limits.ts'
import type { VmState } from '../jobs/vm.ts'
import { ApiError, notFound, specInvalid } from './api-errors.ts'
import type { AppStatus } from './app-status.ts'
import { type ConsulKv, type KvEntry } from './consul-kv.ts'
import { appNameOf } from '../ground/kv-layout.ts'
import { callsAs } from './caller-token.ts'

/** The ConsulKv methods the store uses; tests pass stubs. */
export type VmKv = Pick<ConsulKv, 'get' | 'list' | 'setIfIndex' | 'deleteIfIndex'>

export interface VmRecord {
  readonly name: string
  /** The stored document. */
  readonly spec: Record<string, unknown>
  /** Its ModifyIndex: what If-Match takes. */
  readonly specIndex: number
  /** The controller's status, null until it has written one. */
  readonly status: AppStatus | null
}

export interface VmWrite {
  readonly name: string
  readonly specIndex: number
  /** The key did not exist before. */
  readonly created: boolean
  /** False when the stored document already was this one (nothing written). */
  readonly changed: boolean
}

type Doc = Record<string, unknown>

/** How often a write without If-Match reads again after losing a race, before answering 409. */
const ATTEMPTS = 5

export function checkVmName(name: string): string {
  if (!APP_NAME.test(name)) {
    throw new ApiError(
      400,
      'LEAN_ERR_SPEC_INVALID',
      'name: expected lower-case letters, digits and dashes, starting with a letter (at most 63)',
      'name',
    )
  }
  return name
}

function parsed(value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return undefined
  }
}

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The document of an existing key, if it is a vm; else 409, since the VM API leaves other apps alone. */
function vmDocument(name: string, entry: KvEntry): Doc {
  const doc = parsed(entry.value)
  if (isObject(doc) && doc.kind === 'vm') return doc
  const what = !isObject(doc)
    ? 'a document that is not a JSON object'
    : doc.kind === undefined
      ? 'a document without a kind'
      : `a ${JSON.stringify(doc.kind).slice(0, 40)} app`
  throw new ApiError(
    409,
    'LEAN_ERR_APP_KIND',
    `app ${name} is ${what}, not a vm; the VM API does not change or delete it`,
  )
}

/** A request body as a vm document: `kind` may be left out; any other kind is refused. */
export function vmBody(body: unknown): Doc {
  if (!isObject(body))
    throw new ApiError(400, 'LEAN_ERR_SPEC_INVALID', '$: expected a JSON object (the vm document)', '$')
  if (body.kind !== undefined && body.kind !== 'vm') {
    throw new ApiError(
      400,
      'LEAN_ERR_SPEC_INVALID',
      `kind: expected "vm" or no kind, got ${JSON.stringify(body.kind).slice(0, 40)} (other kinds are written with leanctl apply)`,
      'kind',
    )
  }
  return { kind: 'vm', ...body } // kind first, as operators write it; body.kind is "vm" or absent here
}

function validated(name: string, doc: Doc, limits: AppLimits): string {
  const text = `${JSON.stringify(doc, null, 2)}\n`
  try {
    parseAppSpec(name, text, limits)
  } catch (err) {
    if (err instanceof SpecError) throw specInvalid(err)
    throw err
  }
  return text
}

/** 412: the caller's If-Match no longer holds (`what`: vm or app). */
function precondition(
  what: 'vm' | 'app',
  name: string,
  expected: number,
  entry: KvEntry | undefined,
): ApiError {
  const now = entry ? `its specIndex is ${entry.modifyIndex}` : 'it does not exist'
  return new ApiError(
    412,
    'LEAN_ERR_APP_PRECONDITION',
    `${what} ${name}: If-Match ${expected} does not hold (${now}); nothing was written`,
  )
}

/** A Consul client acting with the caller's token: every write goes through one. */
export type KvForCaller = (token: string) => VmKv

export class VmStore {
  /**
   * `kvAs` makes the client each read and write uses, with the token the
   * caller sent (controller/caller-token.ts): Consul's ACLs decide.
   */
  constructor(
    private readonly appsPrefix: string,
    private readonly statusPrefix: string,
    private readonly kvAs: KvForCaller,
    /** The controller's ceilings: a document over them is refused before it is written. */
    private readonly limits: AppLimits = DEFAULT_APP_LIMITS,
  ) {}

  /** Every app whose stored document is a vm, with its status, as far as the caller's token may read. */
  async list(token: string): Promise<VmRecord[]> {
    const read = this.#caller(token, `reading ${this.appsPrefix}`)
    const [specs, statuses] = await Promise.all([
      read((kv) => kv.list(this.appsPrefix)),
      read((kv) => kv.list(this.statusPrefix)),
    ])
    const statusOf = new Map(
      statuses.entries.map((e) => [e.key.slice(this.statusPrefix.length), parsed(e.value) as AppStatus]),
    )
    return specs.entries.flatMap((e) => {
      const name = appNameOf(this.appsPrefix, e.key)
      const doc = parsed(e.value)
      if (!name || !isObject(doc) || doc.kind !== 'vm') return []
      return [{ name, spec: doc, specIndex: e.modifyIndex, status: statusOf.get(name) ?? null }]
    })
  }

  async get(name: string, token: string): Promise<VmRecord> {
    const read = this.#caller(token, `reading ${this.appsPrefix}${name}`)
    const [entry, status] = await Promise.all([
      read((kv) => kv.get(this.appsPrefix + checkVmName(name))),
      read((kv) => kv.get(this.statusPrefix + name)),
    ])
    if (!entry) throw notFound(`no vm named ${name} (no key ${this.appsPrefix}${name})`)
    return {
      name,
      spec: vmDocument(name, entry),
      specIndex: entry.modifyIndex,
      status: status ? ((parsed(status.value) as AppStatus | undefined) ?? null) : null,
    }
  }

  /** Creates or replaces the vm's document; `token`: the caller's. */
  async put(name: string, body: unknown, token: string, expected?: number): Promise<VmWrite> {
    const doc = vmBody(body)
    validated(checkVmName(name), doc, this.limits) // a bad document is refused before anything is read
    return this.#write(name, token, expected, () => doc)
  }

  /** Sets the document's desired `state` (idempotent). */
  async setState(name: string, state: VmState, token: string, expected?: number): Promise<VmWrite> {
    return this.#write(checkVmName(name), token, expected, (current) => {
      if (!current) throw notFound(`no vm named ${name} (no key ${this.appsPrefix}${name})`)
      return { ...current, state }
    })
  }

  async remove(name: string, token: string, expected?: number): Promise<void> {
    const key = this.appsPrefix + checkVmName(name)
    // Only a vm document is deleted through this API.
    await deleteChecked(this.#caller(token, `deleting ${key}`), { what: 'vm', name, key, expected }, (entry) => vmDocument(name, entry))
  }

  /** Calls Consul with the caller's token; a refusal is a 403 naming `what`, any other failure a 502. */
  #caller(token: string, what: string) {
    return callsAs(this.kvAs(token), what)
  }

  /** Read, change, check-and-set; again on a lost race unless the caller named the index. */
  async #write(
    name: string,
    token: string,
    expected: number | undefined,
    change: (current: Doc | undefined) => Doc,
  ): Promise<VmWrite> {
    const key = this.appsPrefix + name
    return writeChecked(this.#caller(token, `writing ${key}`), { what: 'vm', name, key, expected }, (entry) => {
      const current = entry && vmDocument(name, entry)
      const next = change(current)
      return entry && isDeepStrictEqual(current, next) ? undefined : validated(name, next, this.limits)
    })
  }
}

/** One document's key for a check-and-set write or delete; `expected`: the caller's If-Match. */
export interface CheckedKey {
  readonly what: 'vm' | 'app'
  readonly name: string
  readonly key: string
  readonly expected: number | undefined
}

type CallerKv = <T>(call: (kv: VmKv) => Promise<T>) => Promise<T>

/**
 * Read, check-and-set, and again on a lost race unless the caller named the
 * index (then 412). `textFor` gives the text to store over what is stored now,
 * or undefined when that already is the document (nothing is written).
 */
export async function writeChecked(
  consul: CallerKv,
  { what, name, key, expected }: CheckedKey,
  textFor: (entry: KvEntry | undefined) => string | undefined,
): Promise<VmWrite> {
  for (let attempt = 1; ; attempt++) {
    const entry = await consul((kv) => kv.get(key))
    if (expected !== undefined && (entry?.modifyIndex ?? 0) !== expected) throw precondition(what, name, expected, entry)
    const text = textFor(entry)
    if (text === undefined) return { name, specIndex: entry?.modifyIndex ?? 0, created: false, changed: false }
    const index = await consul((kv) => kv.setIfIndex(key, text, entry?.modifyIndex ?? 0))
    if (index !== undefined) return { name, specIndex: index, created: !entry, changed: true }
    if (expected !== undefined) throw precondition(what, name, expected, await consul((kv) => kv.get(key)))
    if (attempt === ATTEMPTS) throw conflict(what, name, key)
  }
}

/** Deletes with check-and-set, as writeChecked writes; `check` may refuse the stored entry first. */
export async function deleteChecked(
  consul: CallerKv,
  { what, name, key, expected }: CheckedKey,
  check: (entry: KvEntry) => void = () => {},
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const entry = await consul((kv) => kv.get(key))
    if (!entry) throw notFound(`no ${what} named ${name} (no key ${key})`)
    if (expected !== undefined && entry.modifyIndex !== expected) throw precondition(what, name, expected, entry)
    check(entry)
    if (await consul((kv) => kv.deleteIfIndex(key, entry.modifyIndex))) return
    if (expected !== undefined) throw precondition(what, name, expected, await consul((kv) => kv.get(key)))
    if (attempt === ATTEMPTS) throw conflict(what, name, key)
  }
}

/** 409: the key kept changing under a write without If-Match. */
function conflict(
  what: 'vm' | 'app',
  name: string,
  key: string,
): ApiError {
  return new ApiError(
    409,
    'LEAN_ERR_APP_CONFLICT',
    `${what} ${name}: ${key} kept changing while it was written (${ATTEMPTS} attempts); nothing was written, try again`,
  )
}
