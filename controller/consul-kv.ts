// Consul KV through the `consul` package, with the blocking-query loop kept
// in our hands (its Watch ends itself on some errors). Honours
// CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN through the controller config.
import type http from 'node:http'
import type Consul from 'consul'
import { createConsul, QueryContext } from './consul-client.ts'

export interface KvEntry {
  readonly key: string
  readonly value: string
  readonly modifyIndex: number
  /** When the key was made: which of two documents came first. */
  readonly createIndex: number
  /** The session holding the key's lock, if any. */
  readonly session?: string
}

type Raw = { Key: string; Value: string | null; ModifyIndex: number; CreateIndex: number; Session?: string }

const toEntry = (raw: Raw): KvEntry => ({
  key: raw.Key,
  value: raw.Value ?? '',
  modifyIndex: raw.ModifyIndex,
  createIndex: raw.CreateIndex,
  ...(raw.Session && { session: raw.Session }),
})

export interface QueryOptions {
  /** With an index: a blocking query that returns when something changes after it (or after `wait`, default 5m). */
  readonly index?: number
  readonly wait?: string
  readonly signal?: AbortSignal
}

export class ConsulKv {
  readonly #consul: Consul

  /** `agent`: a connection pool shared with other clients (consul-client.ts sharedConsulAgent). */
  constructor(addr: string, token?: string, agent?: http.Agent) {
    this.#consul = createConsul(addr, token, agent)
  }

  /** A read that may block; resolves to the body and X-Consul-Index. */
  async #query<T>(
    params: { key: string; recurse?: boolean },
    options: QueryOptions,
  ): Promise<{ body: T | undefined; index: number }> {
    options.signal?.throwIfAborted()
    const ctx = new QueryContext()
    const unfollow = ctx.follow(options.signal)
    try {
      const [res, body] = (await this.#consul.kv.get({
        ...params,
        ...(options.index !== undefined && {
          index: String(options.index),
          wait: options.wait ?? '5m',
          timeout: 6 * 60_000,
        }),
        ctx,
      } as never)) as unknown as [{ headers: Record<string, string> }, T | undefined]
      return { body, index: Number(res.headers['x-consul-index'] ?? 0) }
    } finally {
      unfollow()
    }
  }

  /** Everything under `prefix`. */
  async list(prefix: string, options: QueryOptions = {}): Promise<{ entries: KvEntry[]; index: number }> {
    const { body, index } = await this.#query<Raw[]>({ key: prefix, recurse: true }, options)
    return { entries: (body ?? []).map(toEntry), index }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const item = (await this.#consul.kv.get({ key } as never)) as Raw | undefined
    return item ? toEntry(item) : undefined
  }

  /** One key and the index to block on. An absent key is `entry: undefined`, still with an index. */
  async getWithIndex(
    key: string,
    options: QueryOptions = {},
  ): Promise<{ entry: KvEntry | undefined; index: number }> {
    const { body, index } = await this.#query<Raw>({ key }, options)
    return { entry: body ? toEntry(body) : undefined, index }
  }

  async set(key: string, value: string, cas?: number): Promise<boolean> {
    return (await this.#consul.kv.set({
      key,
      value,
      ...(cas !== undefined && { cas: String(cas) }),
    } as never)) as boolean
  }

  /**
   * Check-and-set through a transaction, which answers the new ModifyIndex:
   * writes only if the key is still at `index` (0: still absent). Resolves to
   * the new index, or undefined when the key moved.
   */
  async setIfIndex(key: string, value: string, index: number): Promise<number | undefined> {
    const results = await this.#txn({
      Verb: 'cas',
      Key: key,
      Value: Buffer.from(value).toString('base64'),
      Index: index,
    })
    return results?.[0]?.KV.ModifyIndex
  }

  /** Deletes only if the key is still at `index`; false when it moved. */
  async deleteIfIndex(key: string, index: number): Promise<boolean> {
    return (await this.#txn({ Verb: 'delete-cas', Key: key, Index: index })) !== undefined
  }

  /** One KV operation in a transaction; undefined when Consul refuses it as stale (409). */
  async #txn(op: Record<string, unknown>): Promise<Array<{ KV: { ModifyIndex: number } }> | undefined> {
    try {
      const answer = (await this.#consul.transaction.create([{ KV: op }] as never)) as {
        Results: Array<{ KV: { ModifyIndex: number } }> | null
      }
      return answer.Results ?? []
    } catch (err) {
      const res = (
        err as { response?: { statusCode?: number; body?: { Errors?: Array<{ What?: string }> | null } } }
      ).response
      const errors = res?.body?.Errors ?? []
      if (
        res?.statusCode === 409 &&
        errors.length > 0 &&
        errors.every((e) => /index is stale/.test(e.What ?? ''))
      )
        return undefined
      if (errors.length > 0)
        (err as Error).message = `Consul transaction refused: ${errors.map((e) => e.What).join('; ')}`
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    await this.#consul.kv.del(key)
  }

  /** Deletes every key under `prefix`. */
  async deleteTree(prefix: string): Promise<void> {
    await this.#consul.kv.del({ key: prefix, recurse: true } as never)
  }
}
