/**
 * Lease ends as each replica applies them, entry by entry (the lease workload's keys,
 * lease-workload.ts): a lease's keys are deleted by the entry that ends the lease (its expiry or
 * revocation) and only then, and every replica ends a lease at the same log index. Checked after
 * each entry a node's current run applies; a run that restored a snapshot (or restarted) is picked
 * up again at its next entry, without judging what the snapshot skipped.
 */
import type { LogIndex } from '../../contracts/log.js';
import type { KvStateMachine } from '../kv/index.js';

/** What one run of a node was last seen holding. */
interface RunView {
  /** The index of the entry it applied last. */
  index: LogIndex;
  /** Its state machine's lease version then (KvStateMachine.leaseVersion). */
  version: number;
  /** The leases it held then. */
  live: Set<number>;
  /** Keys of its live leases it has held (a key must stay while its lease does). */
  readonly keysHeld: Set<string>;
}

export class LeaseApplyChecker {
  private readonly runs = new Map<string, RunView>();
  /** Where each ended lease ended, and on which run that was first seen. */
  private readonly ends = new Map<number, { readonly index: LogIndex; readonly run: string }>();
  /** Lease ends checked, for the tests. */
  endsChecked = 0;

  /**
   * `keysOf(lease)` names the keys a client attached to the lease; `ended(lease)` is told the first
   * time a run applies the end of a lease.
   */
  constructor(
    private readonly keysOf: (lease: number) => readonly string[],
    private readonly violate: (message: string) => void,
    private readonly ended: (lease: number) => void = () => undefined,
  ) {}

  /** Node run `run` (`id#incarnation`) applied entry `index` to `kv`. */
  onApplied(run: string, kv: KvStateMachine, index: LogIndex): void {
    const view = this.runs.get(run);
    const live = (): Set<number> => new Set(kv.leases().map((lease) => lease.id));
    if (view === undefined || index !== view.index + 1) {
      // A first look, or a jump (a snapshot restored): start over from what it holds now.
      this.runs.set(run, { index, version: kv.leaseVersion, live: live(), keysHeld: new Set() });
      this.checkKeys(run, kv, this.runs.get(run));
      return;
    }
    view.index = index;
    if (view.version !== kv.leaseVersion) {
      const now = live();
      for (const lease of view.live) if (!now.has(lease)) this.onEnded(run, kv, lease, index);
      view.live = now;
      view.version = kv.leaseVersion;
    }
    this.checkKeys(run, kv, view);
  }

  /** Lease `lease` ended at `index` on `run`: at the same index everywhere, its keys gone with it. */
  private onEnded(run: string, kv: KvStateMachine, lease: number, index: LogIndex): void {
    this.endsChecked += 1;
    const known = this.ends.get(lease);
    if (known === undefined) {
      this.ends.set(lease, { index, run });
      this.ended(lease);
    } else if (known.index !== index)
      this.violate(`Lease ${lease} ended at index ${index} on ${run} but at ${known.index} on ${known.run}`);
    for (const key of this.keysOf(lease))
      if (kv.read(key) !== null)
        this.violate(`Lease ${lease} ended at index ${index} on ${run} but its key ${key} stays`);
  }

  /** A key of a live lease, once held, stays until the lease ends. */
  private checkKeys(run: string, kv: KvStateMachine, view: RunView | undefined): void {
    if (view === undefined) return;
    for (const lease of view.live) {
      for (const key of this.keysOf(lease)) {
        if (kv.read(key) !== null) view.keysHeld.add(key);
        else if (view.keysHeld.has(key)) {
          view.keysHeld.delete(key);
          this.violate(`Lease ${lease}'s key ${key} vanished on ${run} at index ${view.index}, the lease still live`);
        }
      }
    }
  }
}
