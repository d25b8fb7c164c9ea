/**
 * Snapshots in the runtime (Raft §7). This node takes one of its state machine at the applied
 * index once enough entry bytes were applied since the last one (or when a signed snapshot
 * command asks), persists it, and only then lets the core compact its log. Enough is
 * `snapshotThresholdBytes`, or twice the last snapshot's size when the store has grown past
 * that, up to `snapshotThresholdBytesMax` (snapshotTriggerBytes), so that snapshots cost less
 * than the log they replace. The core says where to compact (agent/core/retention.ts):
 * `logRetainEntries` behind the snapshot and, on a leader, back to the slowest follower that is
 * replicating, within `logRetainEntriesMax` and `logRetainBytesMax`, so a follower briefly behind
 * catches up by AppendEntries rather than by a whole InstallSnapshot. A due snapshot waits, within
 * a bound, while the leader sends one to a follower (snapshot-wait.ts). It restores the state
 * machine from a snapshot: the one on disk when it starts, or one the leader sent. It counts all
 * of this, and the snapshot transfers the Ready events report, for the node's status
 * ({@link SnapshotCounters}).
 *
 * A snapshot is taken in the background (snapshot-job.ts; issue 16: taken on the Ready loop, a
 * 20 MB one stalled every write on all three nodes for 0.2-1.4 s). Between two Readies the state
 * machine's image is captured (StateMachine.captureSnapshot: references to values never changed
 * in place, nothing encoded), which costs a few milliseconds; the Ready loop goes on
 * at once, and the job encodes the capture a chunk at a time into a storage SnapshotWriter,
 * yielding between chunks. Once storage has made it durable, the next point between two Readies
 * compacts the core, if the snapshot is still newer than the core's (a snapshot from the leader
 * restored meanwhile drops the job; storage refuses to commit an image older than the one it
 * holds). At most one job runs at a time; the entries applied while it runs count toward the next
 * one. A signed snapshot command waits for the job under way, then takes one at the applied index.
 *
 * InstallSnapshot itself belongs to the core and the Ready loop: a leader's core cuts its latest
 * snapshot into chunks and hands them out as requests (peer-rpcs.ts gives a large one a longer
 * deadline); a follower's core hands the chunks it accepts out in Readies, which are streamed to
 * storage as they come (snapshot-receive.ts, {@link Snapshots.receive}); the Ready that completes
 * the snapshot commits it, and the state machine is restored from the stored image
 * ({@link Snapshots.restore}).
 *
 * The members do not snapshot at the same index. They apply the same entries, so with one trigger
 * they would all take their snapshot, encode it, compact and collect its garbage at the same
 * moment, and a leader then finds no follower free to answer (issue 16: the slowest writes under
 * 64 clients waited on all three members at once). So the first trigger after a node starts is
 * lowered by its rank among the voters (firstTriggerBytes): a node's snapshots then come a fixed
 * share of the trigger before or after the others', which the same triggers afterwards keep.
 *
 * A snapshot records the configuration as of its last entry, so this module also tracks the
 * configuration as of the last applied entry; when an applied configuration drops members, the
 * membership manager hears of it (it forgets their link keys).
 */
import { allMembers, decodeConfiguration, isMember } from '../core/configuration.js';
import { entryBytes } from '../core/log.js';
import type { LogRetention, RaftCore } from '../core/raft.js';
import { snapshotRef } from '../core/ready.js';
import type { Ready, SnapshotRef, SnapshotSendOutcome } from '../core/ready.js';
import { ProposalError, StoppedError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, SnapshotHeader } from '../../contracts/log.js';
import type { SnapshotEncoder } from '../../contracts/state-machine.js';
import { snapshotTriggerBytes } from '../../contracts/raft-configuration.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { SnapshotCounts } from '../../contracts/raft-node.js';
import type { RaftNodeDeps } from './node-deps.js';
import { wholeImageChunks } from '../kv/index.js';
import { SnapshotJob } from './snapshot-job.js';
import { SnapshotReceiver, restoreFromStorage } from './snapshot-receive.js';
import { SnapshotWait } from './snapshot-wait.js';

/** What snapshotting needs of the node. */
export interface SnapshotHost {
  isRunning(): boolean;
  requireCore(): SnapshotCore;
  /** Makes sure the Ready loop runs soon, and so calls {@link Snapshots.betweenReadies}. */
  scheduleReady(): void;
  /** A background snapshot failed to persist: stop the node (a PersistenceError is fatal). */
  fatal(error: unknown): void;
}

/** What snapshotting reads and changes of the core. */
export type SnapshotCore = Pick<
  RaftCore,
  | 'getAppliedIndex'
  | 'getSnapshotIndex'
  | 'termAt'
  | 'compact'
  | 'compactionPoint'
  | 'followerReceivingSnapshot'
  | 'isReceivingSnapshot'
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

/**
 * The first trigger after a node starts (see the module comment): `triggerBytes` lowered by the
 * node's rank among the voters (sorted ids) over twice their number, so that the voters of a
 * cluster snapshot a sixth of a trigger apart in a cluster of three, and none later than the
 * configured trigger. A node that is not a voter keeps the trigger.
 */
export function firstTriggerBytes(triggerBytes: number, config: ClusterConfiguration, nodeId: NodeId): number {
  const voters = [...config.voters].sort();
  const rank = voters.indexOf(nodeId);
  if (rank <= 0) return triggerBytes;
  return Math.max(1, Math.floor(triggerBytes * (1 - rank / (2 * voters.length))));
}

/** Snapshot commands (takeNow) that may wait at once. */
export const SNAPSHOT_WAITERS_MAX = 64;

/** A snapshot command waiting for its snapshot. */
interface SnapshotWaiter {
  resolve(index: LogIndex): void;
  reject(error: unknown): void;
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
  /** The snapshot under way in the background; at most one at a time. */
  private job: SnapshotJob | null = null;
  /** Snapshot commands that the next snapshot captured will answer. Limit: SNAPSHOT_WAITERS_MAX. */
  private waiters: SnapshotWaiter[] = [];
  /** Snapshot commands that the job under way will answer. */
  private jobWaiters: SnapshotWaiter[] = [];
  /** Writes the snapshots the leader sends. */
  private readonly receiver: SnapshotReceiver;
  /** Holds a due snapshot back while a follower receives one. */
  private readonly wait: SnapshotWait;

  constructor(
    private readonly host: SnapshotHost,
    private readonly deps: SnapshotDeps,
    private readonly options: SnapshotOptions,
    bootstrap: ClusterConfiguration,
  ) {
    this.appliedConfig = bootstrap;
    this.triggerBytes = snapshotTriggerBytes(options.trigger, 0);
    this.receiver = new SnapshotReceiver(deps.storage);
    this.wait = new SnapshotWait(deps, options.nodeId);
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

  /** The node starts: restores the state machine from the snapshot on disk, if there is one, read in place. */
  restoreAtStart(snapshot: SnapshotHeader | null): void {
    if (snapshot !== null) {
      restoreFromStorage(this.deps.stateMachine, this.deps.storage, snapshot);
      this.appliedConfig = snapshot.configuration;
    }
    this.resetAfter(snapshot?.dataBytes ?? 0);
    this.triggerBytes = firstTriggerBytes(this.triggerBytes, this.appliedConfig, this.options.nodeId);
  }

  /**
   * Restores the state machine from a snapshot the leader sent, which is on disk already. A
   * snapshot of this node's under way is dropped: it is older (storage refuses to commit it).
   */
  restore(snapshot: SnapshotRef): void {
    this.job?.drop();
    restoreFromStorage(this.deps.stateMachine, this.deps.storage, snapshot);
    this.appliedConfig = snapshot.configuration;
    this.resetAfter(snapshot.dataBytes);
    this.counters.restoredSnapshot();
    this.deps.logger.info('restored a snapshot from the leader', {
      node: this.options.nodeId,
      index: snapshot.lastIncludedIndex,
      bytes: snapshot.dataBytes,
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

  /**
   * Called by the Ready loop between two Readies (no Ready half handled, so the state machine is
   * at the core's applied index): compacts after a background snapshot that became durable, and
   * captures a new one when enough was applied since the last one or a snapshot command waits.
   */
  betweenReadies(core: SnapshotCore): void {
    this.receiver.reconcile((index, term) => core.isReceivingSnapshot(index, term));
    const job = this.job;
    if (job !== null && job.state !== 'running') this.finish(core, job);
    // While a snapshot from the leader is written, storage has its one writer open (snapshot-receive.ts).
    if (this.job !== null || this.receiver.isOpen() || !this.host.isRunning()) return;
    const due = this.appliedBytesSinceSnapshot >= this.triggerBytes;
    if (this.waiters.length > 0 || (due && !this.wait.holds(core, this.appliedBytesSinceSnapshot, this.triggerBytes)))
      this.capture(core);
  }

  /**
   * Takes a snapshot now (a signed snapshot command): after the one under way, if any, one at the
   * applied index as of the next point between two Readies. Resolves with the index of the
   * snapshot that then covers it (the core's, when nothing was applied since the last one).
   */
  async takeNow(): Promise<LogIndex> {
    this.host.requireCore();
    if (!this.host.isRunning()) throw new StoppedError();
    if (this.waiters.length >= SNAPSHOT_WAITERS_MAX)
      throw new ProposalError('RAFT_BUSY', `${SNAPSHOT_WAITERS_MAX} snapshot commands are waiting already`);
    const index = new Promise<LogIndex>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.host.scheduleReady();
    return index;
  }

  /**
   * Writes `ready` when it carries chunks of a snapshot from the leader (SnapshotReceiver.write),
   * else returns null: the Ready loop then writes it as any other (ready-write.ts). The promise is
   * awaited by the caller; a rejection meanwhile is not reported as unhandled.
   */
  receive(ready: Ready): Promise<void> | null {
    if (ready.snapshotChunks.length === 0) return null;
    // A transfer begins: a snapshot of this node's under way would begin a writer, which storage
    // allows one of at a time (and it is older than the leader's anyway).
    if (ready.snapshotChunks.some((chunk) => chunk.offset === 0)) this.job?.drop();
    const written = this.receiver.write(ready);
    written.catch(() => undefined);
    return written;
  }

  /** The node stops: a snapshot under way is dropped (taken or received), and waiting snapshot commands fail. */
  halt(): void {
    this.job?.drop();
    this.receiver.abort();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new StoppedError());
  }

  /** Captures the state machine at the applied index and starts encoding and persisting it in the background. */
  private capture(core: SnapshotCore): void {
    const index = core.getAppliedIndex();
    const term = core.termAt(index);
    if (term === null || index <= core.getSnapshotIndex()) {
      // Nothing applied since the last snapshot: a snapshot command gets that one.
      this.resolveWaiters(core.getSnapshotIndex());
      return;
    }
    const started = this.deps.timers.nowMs();
    const encoder = this.captureEncoder();
    const meta = { lastIncludedIndex: index, lastIncludedTerm: term, configuration: this.appliedConfig };
    const job = new SnapshotJob(meta, this.appliedBytesSinceSnapshot, this.deps.timers.nowMs() - started);
    this.job = job;
    this.jobWaiters = this.waiters.splice(0);
    void job.run(encoder, this.deps.storage, this.deps.timers).then(() => this.host.scheduleReady());
  }

  /** The state machine's image as of now: captured (cheap), or encoded whole by one without captureSnapshot. */
  private captureEncoder(): SnapshotEncoder {
    const machine = this.deps.stateMachine;
    return machine.captureSnapshot?.() ?? wholeImageChunks(machine.snapshot());
  }

  /** A background snapshot ended: compacts if it is durable and newer than the core's, and answers its waiters. */
  private finish(core: SnapshotCore, job: SnapshotJob): void {
    this.job = null;
    const waiters = this.jobWaiters;
    this.jobWaiters = [];
    if (job.state === 'failed') {
      for (const waiter of waiters) waiter.reject(job.error);
      this.host.fatal(job.error);
      return;
    }
    const index = job.meta.lastIncludedIndex;
    if (job.state === 'durable' && !job.isDropped && this.host.isRunning() && index > core.getSnapshotIndex())
      this.compactAfter(core, job);
    for (const waiter of waiters) waiter.resolve(Math.max(core.getSnapshotIndex(), job.isDropped ? 0 : index));
  }

  /** The snapshot of `job` is durable: the core compacts its log, and the trigger counts from it. */
  private compactAfter(core: SnapshotCore, job: SnapshotJob): void {
    const index = job.meta.lastIncludedIndex;
    // A snapshot persisted at the last stored entry deleted the stored log (PersistBatch); the core
    // keeps no entry storage no longer holds, since it reads old entries back (LogReader).
    const storedFirst = this.deps.storage.firstStoredIndex() ?? index + 1;
    const compactBefore = Math.max(
      core.compactionPoint(index, this.options.retention),
      Math.min(storedFirst, index + 1),
    );
    // From here on the image is on disk only: InstallSnapshot reads it back in chunks (peer-rpcs.ts).
    core.compact(snapshotRef(job.meta, job.dataBytes), compactBefore);
    // Entries applied while the job ran count toward the next snapshot; those it covers no longer do.
    const after = this.appliedBytesSinceSnapshot - job.bytesAtCapture;
    assert(after >= 0, 'the entries a snapshot covers were counted before it');
    this.resetAfter(job.dataBytes);
    this.appliedBytesSinceSnapshot = after;
    this.counters.tookSnapshot();
    this.deps.logger.info('took a snapshot', {
      node: this.options.nodeId,
      index,
      term: job.meta.lastIncludedTerm,
      bytes: job.dataBytes,
      keptBehind: index + 1 - compactBefore,
      captureMs: round(job.captureMs),
      encodeMs: round(job.encodeMs),
      persistMs: round(job.elapsedMs - job.encodeMs),
      elapsedMs: round(job.elapsedMs),
      nextAfterBytes: this.triggerBytes,
    });
    this.deps.metrics.increment('raft_snapshots_taken_total');
    this.host.scheduleReady();
  }

  private resolveWaiters(index: LogIndex): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve(index);
  }
}

/** Milliseconds rounded to a tenth, for the log. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
