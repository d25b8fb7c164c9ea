/**
 * Snapshots in the runtime (Raft §7). This node takes one of its state machine at the applied
 * index once enough entry bytes were applied since the last one (or when a signed snapshot
 * command asks), persists it, and only then lets the core compact its log. Enough is
 * `snapshotThresholdBytes`, or twice the last snapshot's size when the store has grown past
 * that, up to `snapshotThresholdBytesMax` (snapshotTriggerBytes): each snapshot encodes and
 * writes the whole store and holds the Ready loop while it does, so a fixed trigger below the
 * store's size made snapshots cost more than the log (64 clients of 4 KiB values: a 21 MB
 * snapshot every 10 MB applied, each stalling every write on all three nodes at once). The
 * core says where (agent/core/retention.ts): `logRetainEntries` behind the snapshot and, on a
 * leader, back to the slowest follower that is replicating, within `logRetainEntriesMax` and
 * `logRetainBytesMax`, so a follower briefly behind catches up by AppendEntries rather than by a
 * whole InstallSnapshot. It restores the state machine from a snapshot: the one on disk when it
 * starts, or one the leader sent. It counts all of this, and the snapshot transfers the Ready
 * events report, for the node's status ({@link SnapshotCounters}).
 *
 * InstallSnapshot itself belongs to the core and the Ready loop: a leader's core cuts its latest
 * snapshot into chunks and hands them out as requests (peer-rpcs.ts gives a large one a longer
 * deadline); a follower's core assembles the chunks it receives and hands the whole snapshot out
 * in a Ready, which the Ready loop persists before it calls {@link Snapshots.restore}.
 *
 * A snapshot records the configuration as of its last entry, so this module also tracks the
 * configuration as of the last applied entry; when an applied configuration drops members, the
 * membership manager hears of it (it forgets their link keys).
 */
import { allMembers, decodeConfiguration, isMember } from '../core/configuration.js';
import { entryBytes } from '../core/log.js';
import type { LogRetention, RaftCore } from '../core/raft.js';
import { snapshotRef } from '../core/ready.js';
import type { SnapshotSendOutcome } from '../core/ready.js';
import { StoppedError } from '../../contracts/errors.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, Snapshot } from '../../contracts/log.js';
import { snapshotTriggerBytes } from '../../contracts/raft-configuration.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { SnapshotCounts } from '../../contracts/raft-node.js';
import type { RaftNodeDeps } from './node-deps.js';

/** What snapshotting needs of the node. */
export interface SnapshotHost {
  isRunning(): boolean;
  requireCore(): SnapshotCore;
  scheduleReady(): void;
  /** Runs `task` while no Ready is being handled, and holds the Ready loop until it ends. */
  betweenReadies<T>(task: () => Promise<T>): Promise<T>;
}

/** What snapshotting reads and changes of the core. */
export type SnapshotCore = Pick<
  RaftCore,
  'getAppliedIndex' | 'getSnapshotIndex' | 'termAt' | 'compact' | 'compactionPoint'
>;

/** The edges snapshotting reaches. */
export type SnapshotDeps = Pick<
  RaftNodeDeps,
  'stateMachine' | 'storage' | 'membership' | 'logger' | 'metrics' | 'observer' | 'timers'
>;

/** Plain-data options of snapshotting. */
export interface SnapshotOptions {
  readonly nodeId: NodeId;
  /** When a snapshot is taken: RaftConfiguration's fields, read by snapshotTriggerBytes. */
  readonly trigger: Pick<RaftConfiguration, 'snapshotThresholdBytes' | 'snapshotThresholdBytesMax'>;
  /** What compaction keeps behind a snapshot (RaftConfiguration's logRetain* fields). */
  readonly retention: LogRetention;
}

/** The node's snapshot counters since it started; see {@link SnapshotCounts}. */
export class SnapshotCounters {
  private taken = 0;
  private restored = 0;
  private sendsStarted = 0;
  private sendsCompleted = 0;
  private sendsFailed = 0;

  tookSnapshot(): void {
    this.taken += 1;
  }

  restoredSnapshot(): void {
    this.restored += 1;
  }

  /** The leader started an InstallSnapshot transfer. */
  sendStarted(): void {
    this.sendsStarted += 1;
  }

  /** A transfer the leader started ended. */
  sendEnded(outcome: SnapshotSendOutcome): void {
    if (outcome === 'installed') this.sendsCompleted += 1;
    else this.sendsFailed += 1;
  }

  /** The counters as they are now. */
  counts(): SnapshotCounts {
    return {
      taken: this.taken,
      restored: this.restored,
      sendsStarted: this.sendsStarted,
      sendsCompleted: this.sendsCompleted,
      sendsFailed: this.sendsFailed,
    };
  }
}

/** Takes and restores snapshots; see the module comment. */
export class Snapshots {
  /** The configuration as of the last applied entry: what a local snapshot records. */
  private appliedConfig: ClusterConfiguration;
  /** Bytes of entries applied since the last snapshot taken or restored. */
  private appliedBytesSinceSnapshot = 0;
  /** Entry bytes applied since the last snapshot that trigger the next one (from that snapshot's size). */
  private triggerBytes: number;
  /** What this node counted of snapshots since it started. */
  readonly counters = new SnapshotCounters();

  constructor(
    private readonly host: SnapshotHost,
    private readonly deps: SnapshotDeps,
    private readonly options: SnapshotOptions,
    bootstrap: ClusterConfiguration,
  ) {
    this.appliedConfig = bootstrap;
    this.triggerBytes = snapshotTriggerBytes(options.trigger, 0);
  }

  /** Entry bytes applied since the last snapshot that will trigger the next one. */
  nextTriggerBytes(): number {
    return this.triggerBytes;
  }

  /** A snapshot of `bytes` was taken or restored: the count starts again, and the trigger follows its size. */
  private resetAfter(bytes: number): void {
    this.appliedBytesSinceSnapshot = 0;
    this.triggerBytes = snapshotTriggerBytes(this.options.trigger, bytes);
  }

  /** The configuration as of the last applied entry. */
  appliedConfiguration(): ClusterConfiguration {
    return this.appliedConfig;
  }

  /** The node starts: restores the state machine from the snapshot on disk, if there is one. */
  restoreAtStart(snapshot: Snapshot | null): void {
    if (snapshot !== null) {
      this.deps.stateMachine.restore(snapshot, snapshot.data);
      this.appliedConfig = snapshot.configuration;
    }
    this.resetAfter(snapshot?.data.byteLength ?? 0);
  }

  /** Restores the state machine from a snapshot the leader sent, which is on disk already. */
  restore(snapshot: Snapshot): void {
    this.deps.stateMachine.restore(snapshot, snapshot.data);
    this.appliedConfig = snapshot.configuration;
    this.resetAfter(snapshot.data.byteLength);
    this.counters.restoredSnapshot();
    this.deps.logger.info('restored a snapshot from the leader', {
      node: this.options.nodeId,
      index: snapshot.lastIncludedIndex,
      bytes: snapshot.data.byteLength,
    });
    this.deps.observer?.onSnapshotRestore?.(snapshot);
  }

  /** The state machine applied `entry`: counts its bytes and follows a configuration entry. */
  applied(entry: LogEntry): void {
    this.appliedBytesSinceSnapshot += entryBytes(entry);
    if (entry.type !== 'config') return;
    const next = decodeConfiguration(entry.command);
    if (next === null) return;
    for (const id of allMembers(this.appliedConfig)) {
      if (!isMember(next, id)) {
        this.deps.membership.handleNodeRemoval(id);
        this.deps.logger.info('member removed', { node: this.options.nodeId, removed: id, index: entry.index });
      }
    }
    this.appliedConfig = next;
  }

  /** Takes a snapshot once enough has been applied since the last one (between two Readies). */
  async maybeTake(core: SnapshotCore): Promise<void> {
    if (this.appliedBytesSinceSnapshot < this.triggerBytes) return;
    await this.take(core);
  }

  /** Takes a snapshot now (a signed snapshot command); resolves with its index. */
  async takeNow(): Promise<LogIndex> {
    const core = this.host.requireCore();
    if (!this.host.isRunning()) throw new StoppedError();
    // The snapshot is taken between two Readies, so it sees no half-applied one.
    return this.host.betweenReadies(() => this.take(core));
  }

  /** Snapshots the state machine at the applied index, persists it, then compacts. */
  private async take(core: SnapshotCore): Promise<LogIndex> {
    const index = core.getAppliedIndex();
    const term = core.termAt(index);
    if (term === null || index <= core.getSnapshotIndex()) return core.getSnapshotIndex();
    const started = this.deps.timers.nowMs();
    const snapshot: Snapshot = {
      lastIncludedIndex: index,
      lastIncludedTerm: term,
      configuration: this.appliedConfig,
      data: this.deps.stateMachine.snapshot(),
    };
    const encoded = this.deps.timers.nowMs();
    await this.deps.storage.persist({
      snapshot,
      truncateFrom: null,
      entries: [],
      compactBefore: null,
      hardState: null,
    });
    if (!this.host.isRunning()) return index;
    const compactBefore = core.compactionPoint(index, this.options.retention);
    // From here on the image is on disk only: InstallSnapshot reads it back in chunks (peer-rpcs.ts).
    core.compact(snapshotRef(snapshot, snapshot.data.byteLength), compactBefore);
    this.resetAfter(snapshot.data.byteLength);
    this.counters.tookSnapshot();
    this.deps.logger.info('took a snapshot', {
      node: this.options.nodeId,
      index,
      term,
      bytes: snapshot.data.byteLength,
      keptBehind: index + 1 - compactBefore,
      encodeMs: Math.round(encoded - started),
      persistMs: Math.round(this.deps.timers.nowMs() - encoded),
      nextAfterBytes: this.triggerBytes,
    });
    this.deps.metrics.increment('raft_snapshots_taken_total');
    this.host.scheduleReady();
    return index;
  }
}
