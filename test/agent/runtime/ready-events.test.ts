// Proves that the snapshot transfers a Ready reports reach the node's counters (what GET /status
// shows) and the metrics: a start counts as a send, an installed end as a completion, a superseded
// or abandoned end as a failure labelled with its outcome. Then proves GET /status carries the
// counters, on a one-node cluster with its local endpoint on virtual time.
import { strict as assert } from 'node:assert';
import { reportReadyEvents } from '../../../agent/runtime/ready-events.js';
import { SnapshotCounters } from '../../../agent/runtime/snapshots.js';
import type { CoreEvent, Ready } from '../../../agent/core/ready.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { RecordingMetrics, virtualEndpointNode } from '../endpoint/harness.js';
import type { NetworkClient } from '../../../contracts/network.js';

function readyWith(events: CoreEvent[]): Ready {
  return {
    hardState: null,
    snapshotChunks: [],
    snapshot: null,
    truncateFrom: null,
    entries: [],
    compactBefore: null,
    committed: [],
    messages: [],
    readStates: [],
    softState: null,
    events,
  };
}

describe('snapshot transfer counters', () => {
  it('counts sends, completions and failures from the Ready events, in counters and metrics', () => {
    const metrics = new RecordingMetrics();
    const counters = new SnapshotCounters();
    const sink = {
      nodeId: 'n1',
      client: {} as NetworkClient,
      logger: new MemoryLogger(),
      metrics,
      snapshotCounters: counters,
      leaderReported: () => undefined,
    };
    reportReadyEvents(
      sink,
      readyWith([
        { kind: 'snapshot-sent', to: 'n2', index: 10, bytes: 100 },
        { kind: 'snapshot-done', to: 'n2', index: 10, outcome: 'superseded' },
        { kind: 'snapshot-sent', to: 'n2', index: 20, bytes: 100 },
        { kind: 'snapshot-done', to: 'n2', index: 20, outcome: 'installed' },
        { kind: 'snapshot-sent', to: 'n3', index: 20, bytes: 100 },
        { kind: 'snapshot-done', to: 'n3', index: 20, outcome: 'abandoned' },
      ]),
    );
    assert.deepEqual(counters.counts(), { taken: 0, restored: 0, sendsStarted: 3, sendsCompleted: 1, sendsFailed: 2 });
    assert.equal(metrics.count('raft_snapshot_sends_total', { peer: 'n2' }), 2);
    assert.equal(metrics.count('raft_snapshot_sends_completed_total', { peer: 'n2' }), 1);
    assert.equal(metrics.count('raft_snapshot_sends_failed_total', { peer: 'n2', outcome: 'superseded' }), 1);
    assert.equal(metrics.count('raft_snapshot_sends_failed_total', { peer: 'n3', outcome: 'abandoned' }), 1);
  });

  it('GET /status carries the node snapshot counters', async () => {
    const h = await virtualEndpointNode();
    try {
      const wire = h.wire();
      await wire.send({ path: '/status', messageId: 1, token: Uint8Array.from([1]) });
      await h.run(100);
      const payload = wire.received[0]?.payload;
      assert.ok(payload !== undefined, 'an answer');
      const body = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(body['snapshots'], {
        taken: 0,
        restored: 0,
        sendsStarted: 0,
        sendsCompleted: 0,
        sendsFailed: 0,
      });
      assert.deepEqual(body['snapshots'], h.node.getStatus().snapshots);
    } finally {
      await h.stop();
    }
  });
});
