/**
 * Leases in a simulation run (`coraft sim --leases N`): N lease clients (lease-workload.ts) grant,
 * attach a key to, keep alive and abandon leases through random nodes under the run's faults. Their
 * properties join the run's violations:
 * - every entry a replica applies: a lease's key is deleted by the entry that ends the lease and only
 *   then, at the same index on every replica (lease-apply-check.ts);
 * - no lease expires before TTL after an acknowledged keepalive (through failovers), and once the
 *   cluster has converged after healing and kept its leader, a lease left alone expires within
 *   TTL + 1 s (lease-workload.ts), which the run waits for before it ends.
 */
import type { Prng } from '../../contracts/prng.js';
import type { SimCluster } from './cluster.js';
import { LeaseApplyChecker } from './lease-apply-check.js';
import { LEASE_EXPIRY_SLACK_MS, LeaseWorkload } from './lease-workload.js';
import type { LateDelivery } from './lease-workload.js';
import type { VirtualTimers } from './virtual-time.js';
import type { FaultKind } from './fault-kinds.js';
import { STALE_DELAY_MAX_MS } from './network.js';

/**
 * How late a message sent under the run's faults may arrive: with the 'stale' fault, one sent before
 * the network heals (`healMs`) up to STALE_DELAY_MAX_MS later, so a keepalive held so long refreshes
 * its lease then (the leader applies it as it comes); null without it.
 */
export function lateDelivery(faults: ReadonlySet<FaultKind>, healMs: number): LateDelivery | null {
  return faults.has('stale') ? { untilMs: healMs, delayMaxMs: STALE_DELAY_MAX_MS } : null;
}

/** The TTL of the simulated clients' leases, ms. */
export const SIM_LEASE_TTL_MS = 1500;
/** How long a run goes on after it converged, for leases left alone then to expire, ms. */
const LEASE_QUIET_MS = 2 * (SIM_LEASE_TTL_MS + LEASE_EXPIRY_SLACK_MS) + 1000;

export class SimLeases {
  readonly workload: LeaseWorkload;
  readonly applied: LeaseApplyChecker;

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    prng: Prng,
    clients: number,
  ) {
    this.workload = new LeaseWorkload(cluster, timers, prng, {
      clients,
      ttlMs: SIM_LEASE_TTL_MS,
      attemptTimeoutMs: 1000,
    });
    const violate = (message: string): void => {
      cluster.checker.violations.push(message);
    };
    this.applied = new LeaseApplyChecker(
      (id) => this.workload.keysOf(id),
      violate,
      (id) => this.workload.noteEnded(id),
    );
    cluster.onApplied = (slot, entry) => {
      if (slot.kv !== null) this.applied.onApplied(`${slot.id}#${slot.incarnation}`, slot.kv, entry.index);
    };
  }

  /** The leader and its term last seen, and when that changed. */
  private leader = { key: '', sinceMs: 0 };

  start(): void {
    this.workload.start();
  }

  /** Call after every event: notes lease ends (lease-workload.ts) and changes of leader. */
  observe(): void {
    this.workload.observe();
    const leader = this.cluster.leaders()[0];
    const key = leader === undefined ? '' : `${leader.getNodeId()}@${leader.getCurrentTerm()}`;
    if (key !== this.leader.key) this.leader = { key, sinceMs: this.timers.nowMs() };
  }

  /**
   * Ends the run's leases: when the cluster converged (`healthy`), runs LEASE_QUIET_MS more (with
   * `afterEach` after every event) so that leases left alone expire; then stops the clients and adds
   * the violations (liveness only when healthy). `late`: how late a message sent under the faults may arrive.
   */
  async finish(healthy: boolean, afterEach: () => boolean, late: LateDelivery | null = null): Promise<void> {
    const convergedAtMs = this.timers.nowMs();
    if (healthy) await this.timers.runUntil(this.timers.nowMs() + LEASE_QUIET_MS, afterEach);
    // Expiries are noted after every event of the run (afterEach), not while the clients stop.
    const endMs = this.timers.nowMs();
    // A new leader restarts every countdown at the full TTL (lease-keeper.ts): the liveness bound
    // holds from the last change of leader on (a membership change still under way may move it).
    const quietFromMs = healthy ? Math.max(convergedAtMs, this.leader.sinceMs) : Number.POSITIVE_INFINITY;
    await this.timers.runWhile(this.workload.stop());
    for (const violation of this.workload.violations(quietFromMs, endMs, late))
      this.cluster.checker.violations.push(`lease: ${violation}`);
  }
}
