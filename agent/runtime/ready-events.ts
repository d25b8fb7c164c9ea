/**
 * What a Ready reports beside its work: the core's events (role changes with their reason, a
 * new leader, a configuration in force, leadership transfers, snapshots sent, warnings) and its
 * soft state. They become log lines, metrics, counters and observer calls; a configuration in force also
 * replaces the transport's address book, and a newly known leader ends the waits for one.
 */
import type { Ready } from '../core/ready.js';
import type { NodeId } from '../../contracts/log.js';
import type { RaftNodeDeps } from './node-deps.js';
import type { SnapshotCounters } from './snapshots.js';

/** Where a Ready's events go. */
export interface ReadyEventSink extends Pick<RaftNodeDeps, 'client' | 'logger' | 'metrics' | 'observer'> {
  readonly nodeId: NodeId;
  /** Counts the snapshot transfers, for the node's status. */
  readonly snapshotCounters: SnapshotCounters;
  /** The soft state named the leader (or none). */
  leaderReported(leaderId: NodeId | null): void;
}

/** Reports the events and the soft state of `ready`. */
export function reportReadyEvents(sink: ReadyEventSink, ready: Ready): void {
  const node = sink.nodeId;
  for (const event of ready.events) {
    switch (event.kind) {
      case 'role':
        sink.logger.info(`became ${event.to}`, {
          node,
          term: event.term,
          from: event.from,
          to: event.to,
          reason: event.reason,
        });
        sink.metrics.increment('raft_role_changes_total', 1, { to: event.to });
        if (event.to === 'leader') sink.observer?.onLeader?.(event.term);
        break;
      case 'leader':
        sink.logger.info('following a new leader', { node, term: event.term, leader: event.leaderId });
        break;
      case 'config':
        sink.logger.info('configuration in force', {
          node,
          index: event.index,
          voters: event.configuration.voters.join(','),
          learners: event.configuration.learners.join(','),
          joint: event.configuration.oldVoters !== null,
        });
        sink.client.setPeers(event.configuration.members.filter((m) => m.id !== node));
        sink.observer?.onConfiguration?.(event.index, event.configuration);
        break;
      case 'transfer':
        sink.logger.info(`leadership transfer ${event.outcome}`, { node, to: event.to });
        break;
      case 'snapshot-sent':
        sink.logger.info('sending snapshot', { node, to: event.to, index: event.index, bytes: event.bytes });
        sink.metrics.increment('raft_snapshot_sends_total', 1, { peer: event.to });
        sink.snapshotCounters.sendStarted();
        break;
      case 'snapshot-done':
        sink.logger.info(`snapshot send ${event.outcome}`, { node, to: event.to, index: event.index });
        sink.metrics.increment(
          event.outcome === 'installed' ? 'raft_snapshot_sends_completed_total' : 'raft_snapshot_sends_failed_total',
          1,
          event.outcome === 'installed' ? { peer: event.to } : { peer: event.to, outcome: event.outcome },
        );
        sink.snapshotCounters.sendEnded(event.outcome);
        break;
      case 'warning':
        sink.logger.warning(event.message, { node });
        break;
    }
  }
  if (ready.softState !== null) {
    const soft = ready.softState;
    sink.metrics.setGauge('raft_term', soft.term);
    sink.metrics.setGauge('raft_is_leader', soft.role === 'leader' ? 1 : 0);
    sink.leaderReported(soft.leaderId);
  }
}
