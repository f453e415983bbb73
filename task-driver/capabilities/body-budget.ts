// What one task's capability API may hold in memory at once. Each call's body
// is read whole before it goes to S3, PostgreSQL, another service or SMTP; a
// component that opens many calls at once, each with a large body, would
// otherwise make the host hold all of them. The budget caps the calls under
// way and the bytes their bodies hold together; past either, a call is
// refused at once (503) and what it held is given back.
export interface BodyBudgetLimits {
  /** Calls under way at once. */
  readonly calls: number
  /** Bytes of request bodies held at once, over all calls. */
  readonly bytes: number
}

export const DEFAULT_BODY_BUDGET: BodyBudgetLimits = { calls: 64, bytes: 128 * 1024 * 1024 }

export class BodyBudget {
  #calls = 0
  #bytes = 0
  constructor(readonly limits: BodyBudgetLimits = DEFAULT_BODY_BUDGET) {}

  /** Starts a call; false when as many are under way as allowed. */
  enter(): boolean {
    if (this.#calls >= this.limits.calls) return false
    this.#calls++
    return true
  }

  leave(): void {
    this.#calls = Math.max(0, this.#calls - 1)
  }

  /** Takes `n` more bytes for a body being read; false when that would pass the limit (nothing taken). */
  take(n: number): boolean {
    if (this.#bytes + n > this.limits.bytes) return false
    this.#bytes += n
    return true
  }

  give(n: number): void {
    this.#bytes = Math.max(0, this.#bytes - n)
  }

  /** Calls under way and bytes held, for tests and stats. */
  get held(): { calls: number; bytes: number } {
    return { calls: this.#calls, bytes: this.#bytes }
  }
}
