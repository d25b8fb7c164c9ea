/**
 * A leader's due snapshot waits while it sends one to a follower (issue 16). A newer snapshot
 * replaces the one in transfer (agent/core/replication.ts), whose transfer then starts again from
 * its first byte; so while a follower that answers is receiving one
 * (RaftCore.followerReceivingSnapshot), the next snapshot is held back, at most until
 * SNAPSHOT_WAIT_TRIGGERS times the trigger was applied since the last one: the bound on the log
 * (its disk, and what a restart replays) while it waits. etcd pauses compaction while a snapshot
 * is in flight for the same reason.
 *
 * Why: at 256 clients x 64 KiB on one machine, a follower a quarter second behind was cut off, and
 * the leader's snapshot every 0.6-0.9 s superseded each 21 MB transfer to it for 17 s, until the
 * load stopped: 22 transfers started, one completed, and the cluster was one failure from an
 * outage meanwhile. A transfer completes when the follower takes the snapshot faster than the
 * leader applies SNAPSHOT_WAIT_TRIGGERS triggers (eight times the snapshot, at the trigger's
 * growth factor of two), not only faster than one.
 */
import type { NodeId } from '../../contracts/log.js';
import type { RaftCore } from '../core/raft.js';
import type { RaftNodeDeps } from './node-deps.js';

/** A due snapshot waits for a follower receiving one until this many times its trigger's bytes were applied. */
export const SNAPSHOT_WAIT_TRIGGERS = 4;

/** Whether a due snapshot waits; see the module comment. */
export class SnapshotWait {
  /** The follower a due snapshot waits for, or null. */
  private waitingFor: NodeId | null = null;

  constructor(
    private readonly deps: Pick<RaftNodeDeps, 'logger' | 'metrics'>,
    private readonly nodeId: NodeId,
  ) {}

  /**
   * True while a due snapshot waits: `appliedBytes` were applied since the last snapshot, whose
   * trigger is `triggerBytes`. Logs when a wait begins, and when the bound ends one.
   */
  holds(core: Pick<RaftCore, 'followerReceivingSnapshot'>, appliedBytes: number, triggerBytes: number): boolean {
    const bounded = appliedBytes >= SNAPSHOT_WAIT_TRIGGERS * triggerBytes;
    const follower = bounded ? null : core.followerReceivingSnapshot();
    const before = this.waitingFor;
    this.waitingFor = follower;
    if (follower !== null && before === null) {
      this.deps.logger.info('snapshot waits for a follower receiving one', {
        node: this.nodeId,
        follower,
        appliedBytes,
      });
      this.deps.metrics.increment('raft_snapshot_waits_total');
    } else if (bounded && before !== null) {
      this.deps.logger.warning('snapshot taken while a follower receives one: the log since the last is at its bound', {
        node: this.nodeId,
        follower: before,
        appliedBytes,
      });
    }
    return follower !== null;
  }
}
