// Stubs of the controller HTTP API's function boundaries (VmKv, ObjectStore,
// VmNomad) for its unit tests, keeping the rules the API depends on: Consul's
// check-and-set and indexes, S3 objects by key. The integration tests use the real ones.
import { readFile } from 'node:fs/promises'
import pino from 'pino'
import { loadControllerConfig } from '../../../controller/config.ts'
import { ControllerMetrics } from '../../../controller/controller-metrics.ts'
import type { KvEntry } from '../../../controller/consul-kv.ts'
import { buildHttpApi } from '../../../controller/http-api.ts'
import type { ComponentStore } from '../../../controller/component-store.ts'
import type { ImageStore } from '../../../controller/image-store.ts'
import type { ObjectStore } from '../../../controller/object-store.ts'
import type { VmNomad } from '../../../controller/vm-runtime.ts'
import type { VmKv } from '../../../controller/vm-store.ts'

export const APPS = 't/apps/'
export const STATUS = 't/status/'

export class MemoryKv implements VmKv {
  readonly data = new Map<string, KvEntry>()
  #index = 100
  /** Runs just before a check-and-set is applied: a concurrent writer. */
  beforeWrite?: (key: string) => void

  put(key: string, value: string): KvEntry {
    const index = ++this.#index
    const entry = { key, value, modifyIndex: index, createIndex: this.data.get(key)?.createIndex ?? index }
    this.data.set(key, entry)
    return entry
  }
  async get(key: string) {
    return this.data.get(key)
  }
  async list(prefix: string) {
    return { entries: [...this.data.values()].filter((e) => e.key.startsWith(prefix)), index: this.#index }
  }
  async setIfIndex(key: string, value: string, index: number) {
    this.beforeWrite?.(key)
    if ((this.data.get(key)?.modifyIndex ?? 0) !== index) return undefined
    return this.put(key, value).modifyIndex
  }
  async deleteIfIndex(key: string, index: number) {
    this.beforeWrite?.(key)
    const entry = this.data.get(key)
    if (entry && entry.modifyIndex !== index) return false
    this.data.delete(key)
    return true
  }
}

export class MemoryObjects implements ObjectStore {
  readonly objects = new Map<string, { bytes: Buffer; meta: Record<string, string> }>()

  async list(prefix: string) {
    return [...this.objects]
      .filter(([k]) => k.startsWith(prefix))
      .map(([key, o]) => ({ key, size: o.bytes.length }))
  }
  async exists(key: string) {
    return this.objects.has(key)
  }
  async readText(key: string) {
    const o = this.objects.get(key)
    if (!o) throw Object.assign(new Error(`no ${key}`), { code: 'NoSuchKey' })
    return o.bytes.toString('utf8')
  }
  async putFile(key: string, file: string, meta: Record<string, string>) {
    this.objects.set(key, { bytes: await readFile(file), meta })
  }
  async putBytes(key: string, bytes: Buffer, meta: Record<string, string>) {
    this.objects.set(key, { bytes, meta })
  }
}

/** A Nomad that knows nothing unless a test says otherwise. */
export function quietNomad(patch: Partial<VmNomad> = {}): VmNomad {
  return {
    allocations: async () => [],
    allAllocations: async () => ({ allocations: [], index: 1 }),
    allocation: async () => undefined,
    node: async () => undefined,
    nodes: async () => [],
    taskLogTail: async () => '',
    ...patch,
  }
}

export function api(deps: { kv?: MemoryKv; nomad?: VmNomad; images?: ImageStore; components?: ComponentStore } = {}) {
  const config = loadControllerConfig({ LEAN_APPS_PREFIX: APPS, LEAN_STATUS_PREFIX: STATUS })
  const kv = deps.kv ?? new MemoryKv()
  return buildHttpApi({
    config,
    // The caller's token is checked by the real Consul in the integration tests; here every token may read and write.
    kvFor: () => kv,
    nomad: deps.nomad ?? quietNomad(),
    images: deps.images,
    components: deps.components,
    metrics: new ControllerMetrics(),
    state: () => ({ role: 'leader', synced: true }),
    log: pino({ level: 'silent' }),
  })
}
