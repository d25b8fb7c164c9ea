// Proves where the core lets a snapshot compact the log (agent/core/retention.ts), on a
// synchronous in-process cluster whose links the test holds back or cuts:
// - a follower that lags but is still replicating keeps the entries it needs, so after the
//   leader snapshots and compacts it catches up by AppendEntries, with no InstallSnapshot; the
//   fixed retain count alone (the former rule) would have cut it off;
// - a follower that is down no longer counts once silent for 20 election timeouts: compaction
//   keeps only the retain count, and the follower gets the snapshot when it comes back (reported
//   sent, then installed);
// - so does one that answers heartbeats but whose match does not advance (appends lost);
// - the bound wins over a lagging follower, in entries and in bytes;
// - a node that does not lead keeps just the retain count;
// - the leader names a follower receiving a snapshot (followerReceivingSnapshot, which the
//   runtime's snapshots wait for) while the transfer advances or has just begun and the follower
//   answers; not one that only replicates behind, not one silent for an election timeout, not one
//   whose transfer is stuck for 20 election timeouts, and none on a node that does not lead.
import { strict as assert } from 'node:assert';
import { CoreCluster, bytes } from './core-cluster.js';
import type { CoreEvent } from '../../../agent/core/ready.js';
import type { LogRetention } from '../../../agent/core/raft.js';
import type { NodeId, Snapshot } from '../../../contracts/log.js';

const RETENTION: LogRetention = { entries: 5, entriesMax: 100, bytesMax: 1 << 20 };

interface Setup {
  readonly cluster: CoreCluster;
  readonly leader: NodeId;
  readonly lagging: NodeId;
}

/** A 3-node cluster with a leader and some entries everywhere; `lagging` is one follower. */
function setup(): Setup {
  const cluster = new CoreCluster(['a', 'b', 'c']);
  const leader = cluster.electLeader();
  const lagging = ['a', 'b', 'c'].find((id) => id !== leader) ?? 'c';
  propose(cluster, leader, 5);
  cluster.tick(2);
  const progress = cluster
    .core(leader)
    .getProgress()
    .find((p) => p.id === lagging);
  assert.equal(progress?.state, 'replicate', 'the follower replicates');
  return { cluster, leader, lagging };
}

function propose(cluster: CoreCluster, leader: NodeId, count: number): void {
  for (let i = 0; i < count; i += 1) {
    assert.ok(cluster.core(leader).propose(bytes(`command ${i}`)).ok);
    cluster.stabilize();
  }
}

/** Takes a snapshot on `id` at its applied index and compacts where the core says; returns that point. */
function snapshotAndCompact(cluster: CoreCluster, id: NodeId, retention: LogRetention = RETENTION): number {
  const core = cluster.core(id);
  const index = core.getAppliedIndex();
  const term = core.termAt(index);
  assert.ok(term !== null);
  const snapshot: Snapshot = {
    lastIncludedIndex: index,
    lastIncludedTerm: term,
    configuration: core.getConfiguration(),
    data: new Uint8Array(3000).fill(7),
  };
  const point = core.compactionPoint(index, retention);
  cluster.compact(id, snapshot, point);
  cluster.stabilize();
  return point;
}

/** Appends carrying entries from `leader` to `lagging` are lost; heartbeats and their answers get through. */
function dropAppendsWithEntries(cluster: CoreCluster, leader: NodeId, lagging: NodeId): void {
  cluster.dropRequest = (from, to, request) =>
    from === leader && to === lagging && request.type === 'AppendEntriesRequest' && request.entries.length > 0;
}

function events(cluster: CoreCluster, id: NodeId): CoreEvent[] {
  return (cluster.readies.get(id) ?? []).flatMap((ready) => ready.events);
}

function snapshotEvents(cluster: CoreCluster, id: NodeId): string[] {
  return events(cluster, id).flatMap((e) => {
    if (e.kind === 'snapshot-sent') return [`sent ${e.index} to ${e.to}`];
    if (e.kind === 'snapshot-done') return [`${e.outcome} ${e.index} to ${e.to}`];
    return [];
  });
}

function matchOf(cluster: CoreCluster, leader: NodeId, id: NodeId): number {
  const progress = cluster
    .core(leader)
    .getProgress()
    .find((p) => p.id === id);
  assert.ok(progress);
  return progress.match;
}

describe('log retention at compaction', () => {
  it('keeps the entries a lagging, replicating follower needs: it catches up without a snapshot', () => {
    const { cluster, leader, lagging } = setup();
    const before = matchOf(cluster, leader, lagging);
    cluster.hold = (from, to) => from === leader && to === lagging;
    propose(cluster, leader, 40);
    // Longer than a check-quorum period: the follower has not answered lately, but it is not gone.
    cluster.tick(15);
    assert.equal(matchOf(cluster, leader, lagging), before, 'the follower lags');
    const index = cluster.core(leader).getAppliedIndex();
    assert.ok(index + 1 - RETENTION.entries > before, 'the retain count alone would cut the follower off');
    assert.ok(
      cluster
        .core(leader)
        .getProgress()
        .find((p) => p.id === lagging)?.replicating,
    );

    assert.equal(snapshotAndCompact(cluster, leader), before, 'compaction stops at what the follower needs');
    cluster.hold = () => false;
    cluster.release();
    cluster.stabilize();
    cluster.tick(3);

    assert.deepEqual(snapshotEvents(cluster, leader), [], 'no snapshot was sent');
    assert.equal(matchOf(cluster, leader, lagging), cluster.core(leader).getLastIndex());
    assert.equal(cluster.core(lagging).getSnapshotIndex(), 0, 'the follower caught up by AppendEntries');
    assert.equal(cluster.core(lagging).getAppliedIndex(), cluster.core(leader).getAppliedIndex());
  });

  it('does not wait for a follower that is down: it gets the snapshot when it comes back', () => {
    const { cluster, leader, lagging } = setup();
    cluster.drop = (from, to) => to === lagging || from === lagging;
    propose(cluster, leader, 40);
    // Silent for 20 election timeouts (10 ticks each): it no longer counts.
    cluster.tick(195);
    assert.equal(
      cluster
        .core(leader)
        .getProgress()
        .find((p) => p.id === lagging)?.replicating,
      true,
      'not yet',
    );
    cluster.tick(10);
    assert.equal(
      cluster
        .core(leader)
        .getProgress()
        .find((p) => p.id === lagging)?.replicating,
      false,
    );

    const index = cluster.core(leader).getAppliedIndex();
    assert.equal(snapshotAndCompact(cluster, leader), index + 1 - RETENTION.entries, 'only the retain count is kept');
    cluster.drop = () => false;
    cluster.tick(30);

    assert.deepEqual(snapshotEvents(cluster, leader), [
      `sent ${index} to ${lagging}`,
      `installed ${index} to ${lagging}`,
    ]);
    assert.equal(cluster.core(lagging).getSnapshotIndex(), index);
    assert.equal(cluster.core(lagging).getAppliedIndex(), cluster.core(leader).getAppliedIndex());
  });

  it('stops waiting for a follower that answers heartbeats but never advances: the snapshot unblocks it', () => {
    const { cluster, leader, lagging } = setup();
    dropAppendsWithEntries(cluster, leader, lagging);
    propose(cluster, leader, 40);
    cluster.tick(205);
    const progress = cluster
      .core(leader)
      .getProgress()
      .find((p) => p.id === lagging);
    assert.equal(progress?.recentActive, true, 'the follower answers');
    assert.equal(progress.replicating, false, 'but it does not count');
    const index = cluster.core(leader).getAppliedIndex();
    assert.equal(snapshotAndCompact(cluster, leader), index + 1 - RETENTION.entries);
    // The transfer to a follower that answers counts as progress from its start: a snapshot would
    // set it back; a transfer stuck for 20 election timeouts no longer holds snapshots back.
    cluster.dropRequest = (_from, to, request) => to === lagging && request.type === 'InstallSnapshotRequest';
    cluster.tick(3);
    assert.equal(cluster.core(leader).followerReceivingSnapshot(), lagging);
    cluster.tick(205);
    assert.equal(cluster.core(leader).followerReceivingSnapshot(), null);
    cluster.dropRequest = () => false;
    cluster.tick(30);
    assert.deepEqual(snapshotEvents(cluster, leader).slice(0, 2), [
      `sent ${index} to ${lagging}`,
      `installed ${index} to ${lagging}`,
    ]);
    assert.equal(cluster.core(lagging).getAppliedIndex(), cluster.core(leader).getAppliedIndex());
  });

  it('gives way to the entry bound: a follower further behind gets the snapshot', () => {
    const { cluster, leader, lagging } = setup();
    cluster.hold = (from, to) => from === leader && to === lagging;
    propose(cluster, leader, 40);
    const index = cluster.core(leader).getAppliedIndex();
    const bounded = { entries: 5, entriesMax: 20, bytesMax: 1 << 20 };
    assert.equal(snapshotAndCompact(cluster, leader, bounded), index + 1 - 20);
    cluster.hold = () => false;
    cluster.release();
    cluster.tick(30);
    assert.deepEqual(snapshotEvents(cluster, leader).slice(0, 2), [
      `sent ${index} to ${lagging}`,
      `installed ${index} to ${lagging}`,
    ]);
    assert.equal(cluster.core(lagging).getAppliedIndex(), cluster.core(leader).getAppliedIndex());
  });

  it('gives way to the byte bound, which caps the retain count too', () => {
    const { cluster, leader, lagging } = setup();
    cluster.hold = (from, to) => from === leader && to === lagging;
    propose(cluster, leader, 40);
    const core = cluster.core(leader);
    const index = core.getAppliedIndex();
    // The last entries are "command 3N" (10 bytes) plus 24 bytes of overhead: 3 of them fit in 110 bytes.
    assert.equal(core.compactionPoint(index, { entries: 5, entriesMax: 100, bytesMax: 110 }), index + 1 - 3);
    assert.equal(core.compactionPoint(index, { entries: 5, entriesMax: 100, bytesMax: 101 }), index + 1 - 2);
    assert.equal(core.compactionPoint(index, { entries: 5, entriesMax: 100, bytesMax: 0 }), index + 1);
  });

  it('keeps just the retain count on a node that does not lead', () => {
    const { cluster, lagging } = setup();
    const core = cluster.core(lagging);
    const index = core.getAppliedIndex();
    assert.equal(core.compactionPoint(index, { entries: 2, entriesMax: 100, bytesMax: 1 << 20 }), index - 1);
    assert.equal(core.compactionPoint(index, { entries: 0, entriesMax: 0, bytesMax: 1 << 20 }), index + 1);
    assert.equal(core.compactionPoint(index, { entries: 100, entriesMax: 100, bytesMax: 1 << 20 }), 1);
  });

  it('names a follower receiving a snapshot while it answers (followerReceivingSnapshot)', () => {
    const { cluster, leader, lagging } = setup();
    dropAppendsWithEntries(cluster, leader, lagging);
    propose(cluster, leader, 40);
    cluster.tick(12);
    const core = cluster.core(leader);
    const index = core.getAppliedIndex();
    // Replicating behind: compaction keeps what it needs (within its bound), nothing waits for it.
    assert.equal(core.getProgress().find((p) => p.id === lagging)?.replicating, true);
    assert.equal(core.followerReceivingSnapshot(), null);
    // A snapshot past its match: while it receives it, the follower is named.
    cluster.dropRequest = (_from, to, request) => to === lagging && request.type === 'InstallSnapshotRequest';
    snapshotAndCompact(cluster, leader, { entries: 5, entriesMax: 20, bytesMax: 1 << 20 });
    cluster.tick(3);
    assert.deepEqual(snapshotEvents(cluster, leader), [`sent ${index} to ${lagging}`]);
    assert.equal(core.followerReceivingSnapshot(), lagging);
    assert.equal(cluster.core(lagging).followerReceivingSnapshot(), null, 'only a leader names one');
    // Silent for over an election timeout (10 ticks): none.
    cluster.drop = (from, to) => to === lagging || from === lagging;
    cluster.tick(11);
    assert.equal(core.followerReceivingSnapshot(), null);
    cluster.drop = () => false;
    cluster.dropRequest = () => false;
    cluster.tick(30);
    assert.deepEqual(snapshotEvents(cluster, leader), [
      `sent ${index} to ${lagging}`,
      `installed ${index} to ${lagging}`,
    ]);
    assert.equal(core.followerReceivingSnapshot(), null, 'installed');
  });
});
