// Who owns each service name and ingress host (jobs/app-names.ts): the app
// whose document declared it first, by the document key's create index. The
// specs watch feeds it every listing of the apps prefix (a cache: reconcile
// asks it, never Consul); it re-reads only the documents that changed, and
// names the apps whose standing changed (an owner came or went), so they are
// reconciled again though their own documents did not change.
import { DEFAULT_APP_LIMITS, type AppLimits } from '../jobs/app-limits.ts'
import { parseAppSpec, type AppSpec } from '../jobs/app-spec.ts'
import type { NameClaim } from '../jobs/app-names.ts'

export interface ListedApp {
  readonly name: string
  readonly createIndex: number
  readonly modifyIndex: number
  readonly value: string
}

interface Known {
  readonly createIndex: number
  readonly modifyIndex: number
  readonly claims: readonly NameClaim[]
}

export interface Conflict {
  readonly claim: NameClaim
  /** The app that declared it first. */
  readonly owner: string
}

const keyOf = (c: NameClaim) => `${c.kind}\0${c.name}`

/** What a valid app's document claims: its service name and its ingress host. */
export function claimsOf(app: AppSpec): NameClaim[] {
  const service = app.kind === 'vm' ? app.vm.service?.name : app.service.service.name
  const host = app.kind === 'vm' ? app.vm.ingress?.host : app.service.ingress?.host
  return [
    ...(service === undefined ? [] : [{ kind: 'service' as const, name: service, field: 'service.name' }]),
    ...(host === undefined ? [] : [{ kind: 'ingress host' as const, name: host, field: 'ingress.host' }]),
  ]
}

export class NameClaims {
  /** `limits`: the reconciler's, so a document is a valid app (and claims its names) here exactly when it is there. */
  constructor(private readonly limits: AppLimits = DEFAULT_APP_LIMITS) {}

  #apps = new Map<string, Known>()
  /** claim key → the app holding it, and its create index. */
  #owners = new Map<string, { app: string; createIndex: number }>()
  #listed = false

  /** True once a whole listing has been seen: before that, no one can tell who is first. */
  get ready(): boolean {
    return this.#listed
  }

  /** Takes a whole listing of the apps prefix; returns the apps whose standing changed. */
  update(listing: readonly ListedApp[]): string[] {
    const before = new Map([...this.#apps.keys()].map((app) => [app, this.#standing(app)]))
    const next = new Map<string, Known>()
    for (const entry of listing) {
      const known = this.#apps.get(entry.name)
      next.set(
        entry.name,
        known && known.modifyIndex === entry.modifyIndex && known.createIndex === entry.createIndex
          ? known
          : {
              createIndex: entry.createIndex,
              modifyIndex: entry.modifyIndex,
              claims: this.#claimsIn(entry.name, entry.value),
            },
      )
    }
    this.#apps = next
    this.#owners = new Map()
    for (const [app, known] of next) {
      for (const claim of known.claims) {
        const held = this.#owners.get(keyOf(claim))
        if (!held || known.createIndex < held.createIndex)
          this.#owners.set(keyOf(claim), { app, createIndex: known.createIndex })
      }
    }
    this.#listed = true
    const changed = new Set<string>()
    for (const app of new Set([...before.keys(), ...next.keys()])) {
      if (before.get(app) !== (next.has(app) ? this.#standing(app) : undefined)) changed.add(app)
    }
    return [...changed]
  }

  /**
   * The first of `claims` (what `app`'s document, created at `createIndex`,
   * declares) that an app created before it holds.
   */
  conflict(app: string, createIndex: number, claims: readonly NameClaim[]): Conflict | undefined {
    for (const claim of claims) {
      const held = this.#owners.get(keyOf(claim))
      if (held && held.app !== app && held.createIndex < createIndex) return { claim, owner: held.app }
    }
    return undefined
  }

  /** What a document claims; nothing when it is not a valid app (its own status says why). */
  #claimsIn(name: string, value: string): NameClaim[] {
    try {
      return claimsOf(parseAppSpec(name, value, this.limits))
    } catch {
      return []
    }
  }

  /** A fingerprint of who blocks `app`: changes when an owner of one of its claims does. */
  #standing(app: string): string {
    const known = this.#apps.get(app)
    if (!known) return ''
    return known.claims.map((c) => `${keyOf(c)}=${this.#owners.get(keyOf(c))?.app ?? ''}`).join('\n')
  }
}
