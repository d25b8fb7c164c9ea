// Proves the simulator's per-entry lease check (agent/sim/lease-apply-check.ts) on real key-value
// state machines fed the same entries: a lease's key goes with the entry that ends the lease, at the
// same index on each replica, and that passes; a replica that keeps the key past the lease's end, ends
// it at another index, or loses the key while the lease lives is reported.
import { strict as assert } from 'node:assert';
import { LeaseApplyChecker } from '../../../agent/sim/lease-apply-check.js';
import { KvStateMachine, encodeKvCommand } from '../../../agent/kv/index.js';
import type { KvCommand } from '../../../agent/kv/index.js';
import type { LogEntry } from '../../../contracts/log.js';

const KEY = 'leased/x';

function entry(index: number, command: KvCommand | null): LogEntry {
  return command === null
    ? { index, term: 1, type: 'noop', command: new Uint8Array() }
    : { index, term: 1, type: 'command', command: encodeKvCommand(command) };
}

/** Grant (lease id 1), put the key on it, a no-op, then the expiry at 4. */
const LOG: readonly LogEntry[] = [
  entry(1, { op: 'lease-grant', ttlMs: 60_000, session: null, timeMs: 0 }),
  entry(2, {
    op: 'put',
    key: KEY,
    value: new Uint8Array([1]),
    returnPrevious: false,
    lease: 1,
    session: null,
    timeMs: 0,
  }),
  entry(3, null),
  entry(4, { op: 'lease-expire', id: 1, refreshIndex: 1, session: null, timeMs: 0 }),
  entry(5, null),
];

function replay(checker: LeaseApplyChecker, run: string, log: readonly LogEntry[], kv = new KvStateMachine({})): void {
  for (const e of log) {
    kv.apply(e);
    checker.onApplied(run, kv, e.index);
  }
}

function checker(): { checker: LeaseApplyChecker; violations: string[] } {
  const violations: string[] = [];
  return {
    checker: new LeaseApplyChecker(
      (id) => (id === 1 ? [KEY] : []),
      (message) => violations.push(message),
    ),
    violations,
  };
}

describe('simulator: lease ends as replicas apply them', () => {
  it('passes replicas that end the lease, and delete its key, at the same entry', () => {
    const { checker: c, violations } = checker();
    replay(c, 'n1#1', LOG);
    replay(c, 'n2#1', LOG);
    assert.deepEqual(violations, []);
    assert.equal(c.endsChecked, 2);
  });

  it('reports a replica that ends the lease at another index', () => {
    const { checker: c, violations } = checker();
    replay(c, 'n1#1', LOG);
    const expiry = LOG[3];
    assert.ok(expiry);
    const later = [...LOG.slice(0, 3), entry(4, null), { ...expiry, index: 5 }];
    replay(c, 'n2#1', later);
    assert.match(violations.join('\n'), /Lease 1 ended at index 5 on n2#1 but at 4 on n1#1/);
  });

  it('reports a key that outlives its lease', () => {
    const { checker: c, violations } = checker();
    const kv = new KvStateMachine({});
    const read = kv.read.bind(kv);
    kv.read = (key) => read(key) ?? { value: new Uint8Array([1]), revision: 2 };
    replay(c, 'n1#1', LOG, kv);
    assert.match(violations.join('\n'), /Lease 1 ended at index 4 on n1#1 but its key leased\/x stays/);
  });

  it('reports a key that goes while its lease lives', () => {
    const { checker: c, violations } = checker();
    const kv = new KvStateMachine({});
    const read = kv.read.bind(kv);
    kv.read = (key) => (kv.lastApplied >= 3 ? null : read(key));
    replay(c, 'n1#1', LOG.slice(0, 3), kv);
    assert.match(violations.join('\n'), /Lease 1's key leased\/x vanished on n1#1 at index 3, the lease still live/);
  });
});
