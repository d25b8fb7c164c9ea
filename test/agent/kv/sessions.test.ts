// Proves exactly-once execution through client sessions (Raft thesis §6.3, reference Property
// 19): a retried command returns the cached response byte for byte without running again, a
// lower sequence is refused as stale, sessions expire by log time (command timestamps, never a
// wall clock), the session count is bounded with least-recently-used eviction, an unknown
// session refuses sequences above 1, and an oversized response is not kept. It drives a real
// state machine with encoded entries.
import { strict as assert } from 'node:assert';
import { decodeKvResult, encodeKvCommand } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import type { KvCommand, KvResult } from '../../../agent/kv/types.js';
import type { MetricDimensions, Metrics } from '../../../contracts/metrics.js';
import { Driver, bytes, textOf } from './kv-helpers.js';

/** A Metrics fake that sums increments by name and dimensions. */
class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    const key = `${name}${JSON.stringify(dimensions)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
  }
  setGauge(): void {}
  observe(): void {}
  observeDurationMs(): void {}
  async flush(): Promise<void> {}
}

function errorCode(result: KvResult): string | false {
  return result.type === 'error' && result.code;
}

describe('KvStateMachine sessions', () => {
  it('returns the cached response to a retry without running it again', () => {
    const sm = new KvStateMachine();
    const command: KvCommand = {
      op: 'put',
      key: 'k',
      value: bytes('v1'),
      returnPrevious: true,
      session: { clientId: 'c', seq: 1 },
      timeMs: 10,
    };
    const first = sm.apply({ term: 1, index: 1, type: 'command', command: encodeKvCommand(command) });
    // Someone else writes in between; a re-execution would now report 'other' as previous.
    const d = new Driver(sm);
    d.put('k', 'other');
    const retry = sm.apply({
      term: 2,
      index: 3,
      type: 'command',
      command: encodeKvCommand({ ...command, timeMs: 20 }),
    });
    assert.equal(Buffer.compare(retry, first), 0, 'byte-identical cached response');
    assert.deepEqual(decodeKvResult(retry), {
      type: 'put',
      revision: 1,
      previous: null,
      created: true,
      storeRevision: 1,
    });
    assert.equal(textOf(d.get('k')), 'other', 'the retry did not write again');
  });

  it('caches error results and cas outcomes too', () => {
    const d = new Driver(new KvStateMachine({ valueBytesMax: 2 }));
    const s1 = { clientId: 'c', seq: 1 };
    assert.equal(errorCode(d.put('k', 'too big', s1)), 'KV_VALUE_TOO_LARGE');
    assert.equal(errorCode(d.put('k', 'ok', s1)), 'KV_VALUE_TOO_LARGE', 'the retry of seq 1 gets the first answer');
    const s2 = { clientId: 'c', seq: 2 };
    const cas = d.run({ op: 'cas', key: 'k', expectedRevision: 0, value: bytes('a') }, s2);
    assert.deepEqual(cas, { type: 'cas', succeeded: true, revision: 3, storeRevision: 3 });
    assert.deepEqual(
      d.run({ op: 'cas', key: 'k', expectedRevision: 0, value: bytes('a') }, s2),
      cas,
      'no second cas, no failure',
    );
  });

  it('refuses a sequence below the latest as stale, without running it', () => {
    const d = new Driver(new KvStateMachine());
    d.put('k', 'one', { clientId: 'c', seq: 1 });
    d.put('k', 'five', { clientId: 'c', seq: 5 });
    const stale = d.put('k', 'late', { clientId: 'c', seq: 3 });
    assert.equal(errorCode(stale), 'KV_STALE_SEQUENCE');
    assert.equal(textOf(d.get('k')), 'five');
    assert.equal(d.put('k', 'six', { clientId: 'c', seq: 6 }).type, 'put', 'sequence gaps are allowed');
  });

  it('opens a session only at sequence 1 and refuses higher sequences of unknown clients', () => {
    const d = new Driver(new KvStateMachine());
    assert.equal(errorCode(d.put('k', 'v', { clientId: 'new', seq: 2 })), 'KV_SESSION_EXPIRED');
    assert.equal(d.sm.read('k'), null);
    assert.equal(d.sm.stats().sessionCount, 0);
    assert.equal(d.put('k', 'v', { clientId: 'new', seq: 1 }).type, 'put');
    assert.equal(d.sm.stats().sessionCount, 1);
  });

  it('expires a session after sessionTtlMs of log time, driven by command timestamps', () => {
    const d = new Driver(new KvStateMachine({ sessionTtlMs: 1000 }));
    d.timeMs = 5000;
    d.put('k', 'a', { clientId: 'c', seq: 1 });
    d.timeMs = 5999;
    d.put('x', '1'); // another client's command moves the log clock
    assert.equal(d.put('k', 'b', { clientId: 'c', seq: 2 }).type, 'put', 'still alive at 999 ms');
    d.timeMs = 6500;
    d.put('x', '2');
    d.timeMs = 3000; // a proposer with a slow clock does not move the log clock back
    d.put('x', '3');
    assert.equal(d.sm.clockMs, 6500);
    assert.equal(d.sm.stats().sessionCount, 1);
    d.timeMs = 6999;
    d.put('x', '4');
    assert.equal(d.sm.stats().sessionCount, 0, 'unused for 1000 ms of log time: expired');
    assert.equal(errorCode(d.put('k', 'c', { clientId: 'c', seq: 3 })), 'KV_SESSION_EXPIRED');
    assert.equal(textOf(d.get('k')), 'b');
  });

  it('keeps at most sessionCountMax sessions, evicting the least recently used', () => {
    const d = new Driver(new KvStateMachine({ sessionCountMax: 2 }));
    d.put('k', 'a', { clientId: 'a', seq: 1 });
    d.put('k', 'b', { clientId: 'b', seq: 1 });
    d.put('k', 'a2', { clientId: 'a', seq: 2 }); // 'a' is now the most recent
    d.put('k', 'c', { clientId: 'c', seq: 1 }); // evicts 'b'
    assert.equal(d.sm.stats().sessionCount, 2);
    assert.equal(errorCode(d.put('k', 'b2', { clientId: 'b', seq: 2 })), 'KV_SESSION_EXPIRED');
    assert.equal(d.put('k', 'a3', { clientId: 'a', seq: 3 }).type, 'put');
    assert.equal(d.put('k', 'c2', { clientId: 'c', seq: 2 }).type, 'put');
  });

  it('returns a large response in full once and KV_RESPONSE_NOT_RETAINED to its retry', () => {
    const d = new Driver(new KvStateMachine({ cachedResponseBytesMax: 64 }));
    const big = 'x'.repeat(200);
    d.put('k', big);
    const first = d.get('k', { clientId: 'c', seq: 1 });
    assert.equal(textOf(first), big);
    assert.equal(errorCode(d.get('k', { clientId: 'c', seq: 1 })), 'KV_RESPONSE_NOT_RETAINED');
  });

  it('refuses a client id longer than clientIdBytesMax and keeps no session for it', () => {
    const d = new Driver(new KvStateMachine({ clientIdBytesMax: 3 }));
    assert.equal(errorCode(d.put('k', 'v', { clientId: 'abcd', seq: 1 })), 'KV_CLIENT_ID_TOO_LONG');
    assert.equal(d.sm.read('k'), null);
    assert.equal(d.sm.stats().sessionCount, 0);
  });

  it('runs commands without a client id every time (no deduplication)', () => {
    const d = new Driver(new KvStateMachine());
    const command: KvCommand = {
      op: 'put',
      key: 'k',
      value: bytes('v'),
      returnPrevious: false,
      session: null,
      timeMs: 0,
    };
    const a = decodeKvResult(d.applyRaw(encodeKvCommand(command)));
    const b = decodeKvResult(d.applyRaw(encodeKvCommand(command)));
    assert.deepEqual(
      [a, b],
      [
        { type: 'put', revision: 1, previous: null, created: true, storeRevision: 1 },
        { type: 'put', revision: 2, previous: null, created: false, storeRevision: 2 },
      ],
    );
  });

  it('counts duplicates, errors, expiries and evictions in metrics', () => {
    const metrics = new CountingMetrics();
    const d = new Driver(new KvStateMachine({ sessionCountMax: 1, sessionTtlMs: 1000 }, { metrics }));
    d.put('k', 'v', { clientId: 'a', seq: 1 });
    d.put('k', 'v', { clientId: 'a', seq: 1 });
    d.put('k', 'v', { clientId: 'b', seq: 1 }); // evicts a
    d.put('k', 'v', { clientId: 'a', seq: 2 });
    d.timeMs = 5000;
    d.put('k', 'v'); // expires b
    assert.deepEqual(Object.fromEntries(metrics.counts), {
      'kv_duplicate_commands_total{}': 1,
      'kv_sessions_evicted_total{}': 1,
      'kv_command_errors_total{"code":"KV_SESSION_EXPIRED"}': 1,
      'kv_sessions_expired_total{}': 1,
    });
  });
});
