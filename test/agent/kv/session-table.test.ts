// Proves the session table's exactly-once rule with watermarks (agent/kv/sessions.ts), driven
// directly with a `run` callback that counts executions:
// - units: concurrent sequences of one session run once each, in any order; retries get the
//   first response; a watermark raises the floor and a sequence below it is refused; past
//   sessionResponsesMax the lowest response is dropped and its retry refused, never run; an
//   unknown session opens only with watermark 1; byte and count limits evict the least recently
//   used session; a snapshot listing loads back identically.
// - property (fast-check): under any interleaving and duplication of (client, seq, watermark)
//   commands and any limits, (1) a sequence runs again only if its session was removed (evicted
//   or expired) in between and reopened, which only a command with watermark 1 does (the
//   documented limit of sessions the state machine cannot tell from new ones); with limits that
//   never evict, every sequence runs at most once; (2) a duplicate
//   returns exactly what the first run kept; (3) nothing runs below the session's floor; (4) the
//   invariants hold after every command; (5) the same commands give the same listing (replay).
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { SessionTable } from '../../../agent/kv/sessions.js';
import type { RunResult, SessionLimits, SessionOutcome } from '../../../agent/kv/sessions.js';
import { fcParams } from '../../fc-params.js';

const ROOMY: SessionLimits = { countMax: 10, ttlMs: 1_000_000, responsesMax: 100, bytesMax: 1_000_000 };

/** A table with a run callback that counts executions and answers the bytes of `label`. */
class Harness {
  readonly table: SessionTable;
  readonly runs = new Map<string, number>();
  clockMs = 0;

  constructor(limits: Partial<SessionLimits> = {}) {
    this.table = new SessionTable({ ...ROOMY, ...limits });
  }

  apply(clientId: string, seq: number, ackedBelow = seq, size = 4): SessionOutcome {
    return this.table.apply(clientId, seq, ackedBelow, this.clockMs, (): RunResult => {
      const key = `${clientId}#${seq}`;
      const count = (this.runs.get(key) ?? 0) + 1;
      this.runs.set(key, count);
      const response = new Uint8Array(size).fill(seq % 256);
      return { response, retained: response };
    });
  }

  ran(clientId: string, seq: number): number {
    return this.runs.get(`${clientId}#${seq}`) ?? 0;
  }
}

describe('SessionTable', () => {
  it('runs concurrent sequences of one session once each, in any order, and answers retries from the cache', () => {
    const h = new Harness();
    for (const seq of [3, 1, 2]) assert.equal(h.apply('@n1/b', seq, 1).kind, 'ran');
    for (const seq of [2, 3, 1, 3]) {
      const outcome = h.apply('@n1/b', seq, 1);
      assert.equal(outcome.kind, 'duplicate');
      assert.deepEqual(outcome.kind === 'duplicate' && [...outcome.response], [seq, seq, seq, seq]);
    }
    assert.deepEqual([h.ran('@n1/b', 1), h.ran('@n1/b', 2), h.ran('@n1/b', 3)], [1, 1, 1]);
    h.table.checkInvariants(h.clockMs);
  });

  it('raises the floor to the watermark: finished sequences are forgotten and refused as stale', () => {
    const h = new Harness();
    h.apply('s', 1, 1);
    h.apply('s', 2, 1);
    h.apply('s', 3, 1);
    assert.equal(h.apply('s', 4, 3).kind, 'ran');
    assert.deepEqual(h.apply('s', 2, 1), { kind: 'stale', floor: 3 });
    assert.equal(h.apply('s', 3, 1).kind, 'duplicate', 'a sequence at the floor is still answered');
    assert.deepEqual(
      h.table.lookup('s')?.responses.map((r) => r.seq),
      [3, 4],
    );
    assert.equal(h.ran('s', 2), 1);
  });

  it('past sessionResponsesMax drops the lowest response and refuses its retry instead of running it again', () => {
    const h = new Harness({ responsesMax: 2 });
    h.apply('s', 1, 1);
    h.apply('s', 2, 1);
    h.apply('s', 3, 1);
    assert.deepEqual(h.apply('s', 1, 1), { kind: 'stale', floor: 2 });
    assert.equal(h.ran('s', 1), 1);
    assert.equal(h.apply('s', 2, 1).kind, 'duplicate');
  });

  it('opens an unknown session only with watermark 1', () => {
    const h = new Harness();
    assert.deepEqual(h.apply('s', 5, 2), { kind: 'expired' });
    assert.equal(h.table.size, 0);
    assert.equal(
      h.apply('s', 5, 1).kind,
      'ran',
      'watermark 1: the client finished nothing yet, so this cannot be a lost retry',
    );
    assert.equal(h.apply('s', 4, 1).kind, 'ran', 'an earlier concurrent command of the same session');
  });

  it('evicts the least recently used session past countMax or bytesMax, never the one in use', () => {
    const h = new Harness({ countMax: 2, bytesMax: 36 });
    h.apply('a', 1);
    h.apply('b', 1);
    h.clockMs = 1;
    h.apply('a', 2);
    const opened = h.apply('c', 1);
    assert.deepEqual(opened.kind === 'ran' && opened.evicted, 1);
    assert.equal(h.table.lookup('b'), undefined, 'b was the least recently used');
    assert.deepEqual(h.apply('b', 2), { kind: 'expired' });
    const big = h.apply('c', 2, 1, 30);
    assert.deepEqual(big.kind === 'ran' && big.evicted, 1, 'a is evicted to make room for 34 bytes');
    assert.equal(h.table.bytes, 34);
    h.table.checkInvariants(h.clockMs);
  });

  it('drops its own lowest responses (raising its floor) when one session alone exceeds bytesMax', () => {
    const h = new Harness({ bytesMax: 20 });
    h.apply('s', 1, 1, 8);
    h.apply('s', 2, 1, 8);
    h.apply('s', 3, 1, 8);
    assert.deepEqual(
      h.table.lookup('s')?.responses.map((r) => r.seq),
      [2, 3],
    );
    assert.deepEqual(h.apply('s', 1, 1), { kind: 'stale', floor: 2 });
    h.table.checkInvariants(h.clockMs);
  });

  it('expires sessions unused for ttlMs of log time', () => {
    const h = new Harness({ ttlMs: 100 });
    h.apply('a', 1);
    h.clockMs = 50;
    h.apply('b', 1);
    assert.equal(h.table.expire(120), 1);
    assert.equal(h.table.lookup('a'), undefined);
    assert.notEqual(h.table.lookup('b'), undefined);
  });

  it('loads its own listing back to an identical table', () => {
    const h = new Harness();
    h.apply('a', 1, 1);
    h.apply('a', 3, 1);
    h.clockMs = 7;
    h.apply('b', 2, 1);
    const copy = new SessionTable(ROOMY);
    copy.load(h.table.list());
    assert.deepEqual(copy.list(), h.table.list());
    assert.equal(copy.bytes, h.table.bytes);
    copy.checkInvariants(7);
  });
});

/** One generated command: which client, which sequence, how far below it the watermark is. */
interface GenCommand {
  readonly client: number;
  readonly seq: number;
  readonly back: number;
  readonly size: number;
  readonly tickMs: number;
}

const commandArb: fc.Arbitrary<GenCommand> = fc.record({
  client: fc.integer({ min: 0, max: 2 }),
  seq: fc.integer({ min: 1, max: 8 }),
  back: fc.integer({ min: 0, max: 8 }),
  size: fc.integer({ min: 1, max: 12 }),
  tickMs: fc.integer({ min: 0, max: 30 }),
});

const limitsArb: fc.Arbitrary<SessionLimits> = fc.record({
  countMax: fc.integer({ min: 1, max: 4 }),
  ttlMs: fc.integer({ min: 50, max: 1_000_000 }),
  responsesMax: fc.integer({ min: 1, max: 5 }),
  bytesMax: fc.integer({ min: 12, max: 200 }),
});

/** Runs `commands` against a fresh table, checking properties (1) to (4) at every step; returns the listing. */
function runChecked(limits: SessionLimits, commands: readonly GenCommand[]): string {
  const table = new SessionTable(limits);
  const firstKept = new Map<string, Uint8Array>();
  /** Per client, the removals seen so far; a run records the count it saw. */
  const removals = new Map<string, number>();
  const ranAt = new Map<string, number>();
  let clockMs = 0;
  let counter = 0;
  for (const g of commands) {
    clockMs += g.tickMs;
    table.expire(clockMs);
    const clientId = `c${g.client}`;
    const key = `${clientId}#${g.seq}`;
    const ackedBelow = Math.max(1, g.seq - g.back);
    const known = table.lookup(clientId);
    if (known === undefined && ranAt.has(`${clientId}@`)) removals.set(clientId, (removals.get(clientId) ?? 0) + 1);
    const outcome = table.apply(clientId, g.seq, ackedBelow, clockMs, () => {
      // (3) nothing runs below the floor of a live session.
      assert.ok(known === undefined || g.seq >= known.floor, `${key} ran below the floor ${String(known?.floor)}`);
      // (1) a second run needs its session removed in between (and reopened, which the
      // expired check below shows takes watermark 1).
      const before = ranAt.get(key);
      if (before !== undefined)
        assert.ok((removals.get(clientId) ?? 0) > before, `${key} ran twice without its session being removed`);
      ranAt.set(key, removals.get(clientId) ?? 0);
      counter += 1;
      const response = new Uint8Array(g.size).fill(counter % 256);
      firstKept.set(key, response);
      return { response, retained: response };
    });
    ranAt.set(`${clientId}@`, 1);
    // (2) a duplicate is exactly what the run kept.
    if (outcome.kind === 'duplicate') assert.deepEqual(outcome.response, firstKept.get(key));
    assert.equal(
      outcome.kind === 'expired',
      known === undefined && ackedBelow !== 1,
      'an unknown session opens only with watermark 1',
    );
    if (table.lookup(clientId) === undefined && known !== undefined)
      removals.set(clientId, (removals.get(clientId) ?? 0) + 1);
    // (4) invariants after every command.
    table.checkInvariants(clockMs);
  }
  return JSON.stringify(table.list(), (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  );
}

describe('SessionTable properties', () => {
  it('any interleaving and duplication of (seq, watermark) commands runs each sequence at most once', () => {
    fc.assert(
      fc.property(limitsArb, fc.array(commandArb, { maxLength: 60 }), (limits, commands) => {
        const listing = runChecked(limits, commands);
        // (5) a replay of the same commands gives the same table.
        assert.equal(runChecked(limits, commands), listing);
      }),
      fcParams(1000, 'session table at most once'),
    );
  });

  it('with limits that never evict, every sequence runs at most once, whatever the order and duplication', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), (commands, responsesMax) => {
        const h = new Harness({ responsesMax });
        for (const g of commands) h.apply(`c${g.client}`, g.seq, Math.max(1, g.seq - g.back), g.size);
        for (const count of h.runs.values()) assert.equal(count, 1);
        h.table.checkInvariants(h.clockMs);
      }),
      fcParams(1000, 'session table never evicting'),
    );
  });
});
