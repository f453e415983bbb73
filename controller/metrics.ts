// The controller's Prometheus metrics: a handful of counters, gauges and one
// histogram, rendered in the text exposition format. Small enough that a
// metrics library would be more code to configure than this is to read.
type Labels = Readonly<Record<string, string>>

const labelText = (labels: Labels): string => {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return pairs.length ? `{${pairs.join(',')}}` : ''
}

export class Counter {
  readonly #values = new Map<string, number>()
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels)
    this.#values.set(key, (this.#values.get(key) ?? 0) + by)
  }

  value(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const [key, value] of this.#values) lines.push(`${this.name}${key} ${value}`)
    return lines.join('\n')
  }
}

/** A gauge whose values are read when scraped. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => ReadonlyArray<readonly [Labels, number]>,
  ) {}

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`]
    for (const [labels, value] of this.read()) lines.push(`${this.name}${labelText(labels)} ${value}`)
    return lines.join('\n')
  }
}

export class Histogram {
  readonly #counts: number[]
  #sum = 0
  #count = 0
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.#counts = buckets.map(() => 0)
  }

  observe(value: number): void {
    this.#sum += value
    this.#count++
    this.buckets.forEach((le, i) => {
      if (value <= le) this.#counts[i]!++
    })
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket{le="${le}"} ${this.#counts[i]}`))
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`)
    return lines.join('\n')
  }
}

export type Metric = Counter | Gauge | Histogram

export function renderMetrics(metrics: readonly Metric[]): string {
  return metrics.map((m) => m.render()).join('\n') + '\n'
}
