// What /metrics reports: reconcile counts, errors and latency, the apps by
// state as last written to their status, leadership, and upstream requests.
import type { Phase } from './app-status.ts'
import { Counter, Gauge, Histogram, renderMetrics } from './metrics.ts'
import { upstreamRequests } from './upstream-requests.ts'

export class ControllerMetrics {
  readonly reconciles = new Counter('lean_controller_reconciles_total', 'Reconciles run, by result (done, retry, error).')
  readonly reconcileErrors = new Counter('lean_controller_reconcile_errors_total', 'Reconciles that failed with a Consul or Nomad error (retried with backoff).')
  readonly reconcileSeconds = new Histogram('lean_controller_reconcile_duration_seconds', 'Time one reconcile took.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
  /** Each app's phase as last written by this instance's reconciler; cleared when leadership ends. */
  readonly phases = new Map<string, Phase>()
  #leader = false

  setLeader(leader: boolean): void {
    this.#leader = leader
    if (!leader) this.phases.clear()
  }

  render(): string {
    const count = (phase: Phase) => [...this.phases.values()].filter((p) => p === phase).length
    return renderMetrics([
      this.reconciles,
      this.reconcileErrors,
      this.reconcileSeconds,
      new Gauge('lean_controller_apps', 'Apps by state: desired (a spec exists), ready (running, or stopped as asked), invalid.', () => [
        [{ state: 'desired' }, this.phases.size],
        [{ state: 'ready' }, count('running') + count('stopped')],
        [{ state: 'invalid' }, count('invalid')],
      ]),
      new Gauge('lean_controller_leader', '1 while this instance holds the leader lock.', () => [[{}, this.#leader ? 1 : 0]]),
      upstreamRequests,
    ])
  }
}
