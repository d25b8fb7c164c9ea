// Proves how the comparison benches count snapshot sends: coraft's from its JSON log lines
// (bench/_system.ts LogMessageCounter: lines split across chunks are joined, only an exact msg
// counts, non-JSON output is ignored, an endless line is dropped rather than kept), and etcd's
// from its Prometheus text (bench/_etcd.ts sumPrometheus: every labelled sample summed, other
// metrics sharing the name's prefix and comments left out).
import { strict as assert } from 'node:assert';
import { sumPrometheus } from '../../bench/_etcd.js';
import { LogMessageCounter } from '../../bench/_system.js';

describe('bench snapshot-send counters', () => {
  it('counts log lines by exact msg, across chunk boundaries', () => {
    const counter = new LogMessageCounter(['sending snapshot', 'took a snapshot']);
    const line = (msg: string): string =>
      `${JSON.stringify({ level: 30, time: '2026-01-01T00:00:00Z', node: 'n1', msg, to: 'n2' })}\n`;
    const text =
      line('sending snapshot') +
      line('took a snapshot') +
      line('sending snapshot chunk') +
      'warning: sending snapshot is not JSON\n' +
      line('sending snapshot');
    for (let i = 0; i < text.length; i += 7) counter.feed(text.slice(i, i + 7));
    assert.equal(counter.count('sending snapshot'), 2);
    assert.equal(counter.count('took a snapshot'), 1);
    assert.equal(counter.count('anything else'), 0);
  });

  it('does not count a line before its end arrives, nor keep an endless one', () => {
    const counter = new LogMessageCounter(['sending snapshot']);
    counter.feed('{"msg":"sending snapshot"}');
    assert.equal(counter.count('sending snapshot'), 0);
    counter.feed('\n');
    assert.equal(counter.count('sending snapshot'), 1);
    counter.feed(`{"msg":"sending snapshot","pad":"${'x'.repeat(LogMessageCounter.PARTIAL_MAX)}`);
    counter.feed('"}\n');
    assert.equal(counter.count('sending snapshot'), 1);
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
