// Proves how the comparison benches count snapshot sends: coraft's from the snapshot counters of
// every agent's GET /status (bench/_system.ts snapshotTotalsOf, sumSnapshotTotals: summed over the
// agents, unknown rather than wrong when an agent has none or does not answer), and etcd's
// from its Prometheus text (bench/_etcd.ts sumPrometheus: every labelled sample summed, other
// metrics sharing the name's prefix and comments left out).
import { strict as assert } from 'node:assert';
import { sumPrometheus } from '../../bench/_etcd.js';
import { snapshotTotalsOf, sumSnapshotTotals } from '../../bench/_system.js';

describe('bench snapshot-send counters', () => {
  it("reads coraft's counters from GET /status and adds them up over the agents", () => {
    const counts = { taken: 3, restored: 1, sendsStarted: 2, sendsCompleted: 1, sendsFailed: 1 };
    const status = { nodeId: 'n1', state: 'leader', snapshots: counts };
    assert.deepEqual(snapshotTotalsOf(status), counts);
    assert.deepEqual(sumSnapshotTotals([snapshotTotalsOf(status), snapshotTotalsOf(status)]), {
      taken: 6,
      restored: 2,
      sendsStarted: 4,
      sendsCompleted: 2,
      sendsFailed: 2,
    });
  });

  it('says unknown rather than a wrong count when an agent reports no counters', () => {
    assert.equal(snapshotTotalsOf({ nodeId: 'n1' }), null, 'an agent from before the counters');
    assert.equal(snapshotTotalsOf(null), null);
    assert.equal(snapshotTotalsOf({ snapshots: { taken: 1, restored: 0, sendsStarted: '2' } }), null);
    assert.equal(
      snapshotTotalsOf({ snapshots: { taken: -1, restored: 0, sendsStarted: 0, sendsCompleted: 0, sendsFailed: 0 } }),
      null,
    );
    const counts = { taken: 0, restored: 0, sendsStarted: 1, sendsCompleted: 1, sendsFailed: 0 };
    assert.equal(sumSnapshotTotals([counts, null]), null, 'an agent that did not answer');
  });

  it('sums a Prometheus counter over its labels', () => {
    const text = [
      '# HELP etcd_network_snapshot_send_success Total number of successful snapshot sends',
      '# TYPE etcd_network_snapshot_send_success counter',
      'etcd_network_snapshot_send_success{To="2b6d7f19fe480be8"} 3',
      'etcd_network_snapshot_send_success{To="4dae0a4c158264b8"} 2',
      'etcd_network_snapshot_send_successes_other 100',
      'etcd_network_snapshot_send_failures{To="2b6d7f19fe480be8"} 7',
      '',
    ].join('\n');
    assert.equal(sumPrometheus(text, 'etcd_network_snapshot_send_success'), 5);
    assert.equal(sumPrometheus('process_open_fds 12\n', 'process_open_fds'), 12);
    assert.equal(sumPrometheus('etcd_server_has_leader 1\n', 'etcd_network_snapshot_send_success'), 0);
  });
});
