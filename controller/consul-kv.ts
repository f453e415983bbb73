// Consul KV through the `consul` package, with the blocking-query loop kept
// in our hands (its Watch ends itself on some errors). Honours
// CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN through the controller config.
import type Consul from 'consul'
import { createConsul, QueryContext } from './consul-client.ts'

export interface KvEntry {
  readonly key: string
  readonly value: string
  readonly modifyIndex: number
}

type Raw = { Key: string; Value: string | null; ModifyIndex: number }

export class ConsulKv {
  readonly #consul: Consul

  constructor(addr: string, token?: string) {
    this.#consul = createConsul(addr, token)
  }

  /** Everything under `prefix`; with `index`, a blocking query that returns when something changes (or after `wait`). */
  async list(prefix: string, options: { index?: number; wait?: string; signal?: AbortSignal } = {}): Promise<{ entries: KvEntry[]; index: number }> {
    const ctx = new QueryContext()
    const unfollow = ctx.follow(options.signal)
    try {
      const [res, body] = (await this.#consul.kv.get({
        key: prefix,
        recurse: true,
        ...(options.index !== undefined && { index: String(options.index), wait: options.wait ?? '5m', timeout: 6 * 60_000 }),
        ctx,
      } as never)) as unknown as [{ headers: Record<string, string> }, Raw[] | undefined]
      const index = Number(res.headers['x-consul-index'] ?? 0)
      return { entries: (body ?? []).map((e) => ({ key: e.Key, value: e.Value ?? '', modifyIndex: e.ModifyIndex })), index }
    } finally {
      unfollow()
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const item = (await this.#consul.kv.get({ key } as never)) as Raw | undefined
    return item ? { key: item.Key, value: item.Value ?? '', modifyIndex: item.ModifyIndex } : undefined
  }

  /**
   * One key and the index to block on; with `index`, a blocking query that returns when the key
   * changes (or after `wait`, at most 5m). An absent key is `entry: undefined`, still with an index.
   */
  async getWithIndex(key: string, options: { index?: number; wait?: string; signal?: AbortSignal } = {}): Promise<{ entry: KvEntry | undefined; index: number }> {
    options.signal?.throwIfAborted()
    const ctx = new QueryContext()
    const unfollow = ctx.follow(options.signal)
    try {
      const [res, item] = (await this.#consul.kv.get({
        key,
        ...(options.index !== undefined && { index: String(options.index), wait: options.wait ?? '5m', timeout: 6 * 60_000 }),
        ctx,
      } as never)) as unknown as [{ headers: Record<string, string> }, Raw | undefined]
      const index = Number(res.headers['x-consul-index'] ?? 0)
      return { entry: item ? { key: item.Key, value: item.Value ?? '', modifyIndex: item.ModifyIndex } : undefined, index }
    } finally {
      unfollow()
    }
  }

  async set(key: string, value: string, cas?: number): Promise<boolean> {
    return (await this.#consul.kv.set({ key, value, ...(cas !== undefined && { cas: String(cas) }) } as never)) as boolean
  }

  async delete(key: string): Promise<void> {
    await this.#consul.kv.del(key)
  }

  /** Deletes every key under `prefix`. */
  async deleteTree(prefix: string): Promise<void> {
    await this.#consul.kv.del({ key: prefix, recurse: true } as never)
  }
}
