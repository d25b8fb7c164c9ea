// Proves the KV state machine's exactly-once rules for sessions with several commands in flight
// (the local endpoint's implicit session) and for request ids, on encoded log entries:
// - concurrent sequences run once each in any log order; a retry gets the first result even
//   after other writes; a watermark retires earlier sequences (refused as stale, never rerun);
//   an unknown session opens only with watermark 1;
// - a request id that ran in one session (an endpoint incarnation) is not run again when it
//   comes back in another (the same CoAP request retransmitted to the restarted endpoint): the
//   second gets the first's result, or KV_RESPONSE_NOT_RETAINED once that is gone; ids expire
//   after requestIdTtlMs of log time and are bounded by requestIdsMax;
// - property: a log of commands of three sessions with watermarks, retried, duplicated and
//   reordered, under limits that never evict, writes each (session, sequence) at most once
//   (every non-error result of one sequence carries the same revision), and a replica that
//   replays the log, snapshotting and restoring in the middle, ends byte-identical;
// - a version 1 snapshot (one response per session) is still restored.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { Encoder } from 'cbor-x';
import type { SnapshotMeta } from '../../../contracts/log.js';
import { decodeKvResult, encodeKvCommand, encodeKvResult } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import type { KvCommand, KvResult, KvSession } from '../../../agent/kv/types.js';
import { fcParams } from '../../fc-params.js';
import { Driver, bytes, textOf } from './kv-helpers.js';

function errorCode(result: KvResult): string | false {
  return result.type === 'error' && result.code;
}

function session(seq: number, ackedBelow: number, clientId = '@n1/boot'): KvSession {
  return { clientId, seq, ackedBelow };
}

/** A put in `s`, optionally carrying request id `rid` (16 bytes filled with it). */
function putIn(d: Driver, key: string, value: string, s: KvSession, rid?: number): KvResult {
  const command: KvCommand = {
    op: 'put',
    key,
    value: bytes(value),
    returnPrevious: false,
    session: s,
    timeMs: d.timeMs,
  };
  return decodeKvResult(
    d.applyRaw(encodeKvCommand(rid === undefined ? command : { ...command, requestId: new Uint8Array(16).fill(rid) })),
  );
}

function metaAt(index: number): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
  };
}

describe('KvStateMachine sessions with watermarks and request ids', () => {
  it('runs concurrent sequences once each in any order and answers their retries with the first result', () => {
    const d = new Driver(new KvStateMachine());
    assert.deepEqual(putIn(d, 'k', 'three', session(3, 1)), {
      type: 'put',
      revision: 1,
      previous: null,
      created: true,
      storeRevision: 1,
    });
    assert.deepEqual(putIn(d, 'k', 'one', session(1, 1)), {
      type: 'put',
      revision: 2,
      previous: null,
      created: false,
      storeRevision: 2,
    });
    d.put('k', 'other');
    assert.deepEqual(
      putIn(d, 'k', 'three', session(3, 1)),
      { type: 'put', revision: 1, previous: null, created: true, storeRevision: 1 },
      'the retry is answered, not run',
    );
    assert.equal(putIn(d, 'k', 'two', session(2, 1)).type, 'put');
    assert.equal(textOf(d.get('k')), 'two');
    assert.equal(putIn(d, 'k', 'four', session(4, 3)).type, 'put', 'watermark 3: sequences 1 and 2 are finished');
    assert.equal(errorCode(putIn(d, 'k', 'one', session(1, 1))), 'KV_STALE_SEQUENCE');
    assert.equal(errorCode(putIn(d, 'k', 'two', session(2, 1))), 'KV_STALE_SEQUENCE');
    assert.equal(textOf(d.get('k')), 'four', 'nothing ran again');
    assert.deepEqual(
      putIn(d, 'k', 'three', session(3, 1)),
      { type: 'put', revision: 1, previous: null, created: true, storeRevision: 1 },
      'sequence 3 is at the floor: still answered',
    );
  });

  it('opens an unknown session only with watermark 1', () => {
    const d = new Driver(new KvStateMachine());
    assert.equal(errorCode(putIn(d, 'k', 'v', session(9, 4))), 'KV_SESSION_EXPIRED');
    assert.equal(d.sm.read('k'), null);
    assert.equal(putIn(d, 'k', 'v', session(9, 1)).type, 'put');
  });

  it('past sessionResponsesMax refuses the retry of the dropped sequence instead of running it again', () => {
    const d = new Driver(new KvStateMachine({ sessionResponsesMax: 2 }));
    putIn(d, 'k', 'one', session(1, 1));
    putIn(d, 'k', 'two', session(2, 1));
    putIn(d, 'k', 'three', session(3, 1));
    assert.equal(errorCode(putIn(d, 'k', 'one', session(1, 1))), 'KV_STALE_SEQUENCE');
    assert.equal(textOf(d.get('k')), 'three');
  });

  it('does not run a request id again in another session: the retransmission gets the first result', () => {
    const d = new Driver(new KvStateMachine());
    const first = putIn(d, 'k', 'v1', session(5, 1, '@n1/old'), 7);
    d.put('k', 'later');
    const again = putIn(d, 'k', 'v1', session(1, 1, '@n1/new'), 7);
    assert.deepEqual(again, first);
    assert.equal(textOf(d.get('k')), 'later', 'the retransmitted write did not run');
    assert.deepEqual(
      putIn(d, 'k', 'v1', session(1, 1, '@n1/new')),
      first,
      'the new session keeps that answer for its own retries',
    );
    assert.equal(d.sm.stats().requestIdCount, 1);
    putIn(d, 'k', 'x', session(6, 6, '@n1/old'));
    assert.equal(
      errorCode(putIn(d, 'k', 'v1', session(2, 2, '@n1/new'), 7)),
      'KV_RESPONSE_NOT_RETAINED',
      'applied before; its response is gone',
    );
    assert.equal(textOf(d.get('k')), 'x');
  });

  it('forgets request ids after requestIdTtlMs of log time and beyond requestIdsMax', () => {
    const d = new Driver(new KvStateMachine({ requestIdTtlMs: 1000, requestIdsMax: 2 }));
    putIn(d, 'k', 'a', session(1, 1, 'a'), 1);
    putIn(d, 'k', 'b', session(1, 1, 'b'), 2);
    putIn(d, 'k', 'c', session(1, 1, 'c'), 3);
    assert.equal(d.sm.stats().requestIdCount, 2, 'the oldest id was evicted');
    assert.equal(putIn(d, 'k', 'a', session(2, 2, 'a'), 1).type, 'put');
    d.timeMs = 1000;
    d.put('x', 'tick');
    assert.equal(d.sm.stats().requestIdCount, 0, 'expired');
    d.sm.checkInvariants();
  });

  it('restores a version 1 snapshot: its sessions keep their one response at their floor', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const kept = Buffer.from(encodeKvResult({ type: 'put', revision: 3, previous: null, created: false }));
    const image = raw.encode(['coraft-kv', 1, 3, 100, [['k', Buffer.from('v'), 3]], [['c', 4, 90, kept]]]);
    const sm = new KvStateMachine();
    sm.restore(metaAt(3), image);
    const r = new Driver(sm);
    r.timeMs = 100;
    assert.deepEqual(
      r.put('k', 'again', { clientId: 'c', seq: 4 }),
      { type: 'put', revision: 3, previous: null, created: false },
      'the kept response',
    );
    assert.equal(errorCode(r.put('k', 'old', { clientId: 'c', seq: 3 })), 'KV_STALE_SEQUENCE');
    assert.equal(textOf(r.get('k')), 'v');
    assert.equal(r.put('k', 'next', { clientId: 'c', seq: 5 }).type, 'put');
    sm.checkInvariants();
  });
});

describe('KvStateMachine snapshot version 2', () => {
  it('refuses sessions and request ids that break their order or sizes, keeping its state', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const sm = new KvStateMachine();
    const before = Buffer.from(sm.snapshot());
    const image = (sessions: unknown[], requestIds: unknown[]): Uint8Array =>
      raw.encode(['coraft-kv', 2, 5, 100, [], sessions, requestIds]);
    const kept = Buffer.from(encodeKvResult({ type: 'put', revision: 3, previous: null, created: false }));
    const rid = Buffer.alloc(16, 1);
    sm.restore(
      metaAt(5),
      image(
        [
          [
            'c',
            2,
            90,
            [
              [2, kept],
              [4, kept],
            ],
          ],
        ],
        [[rid, 'c', 4, 90]],
      ),
    );
    assert.equal(sm.stats().requestIdCount, 1);
    const bad: [unknown[], unknown[], RegExp][] = [
      [[['c', 3, 90, [[2, kept]]]], [], /response sequence must be an integer from 3/],
      [
        [
          [
            'c',
            1,
            90,
            [
              [4, kept],
              [2, kept],
            ],
          ],
        ],
        [],
        /response sequence must be an integer from 5/,
      ],
      [[['c', 0, 90, []]], [], /floor must be an integer from 1/],
      [[], [[Buffer.alloc(15), 'c', 1, 90]], /request ids must have 16 bytes/],
      [
        [],
        [
          [rid, 'c', 1, 90],
          [rid, 'c', 2, 95],
        ],
        /request ids must have 16 bytes and be unique/,
      ],
      [
        [],
        [
          [rid, 'c', 1, 99],
          [Buffer.alloc(16, 2), 'c', 2, 95],
        ],
        /request id use must be an integer from 99/,
      ],
      [[], [[rid, 'c', 1, 101]], /request id use must be an integer from 0 to 100/],
    ];
    const fresh = new KvStateMachine();
    for (const [sessions, requestIds, pattern] of bad)
      assert.throws(() => fresh.restore(metaAt(5), image(sessions, requestIds)), pattern);
    assert.throws(
      () => fresh.restore(metaAt(5), raw.encode(['coraft-kv', 2, 5, 100, [], []])),
      /version 2 snapshot must have 7 items/,
    );
    assert.deepEqual(Buffer.from(fresh.snapshot()), before, 'a refused snapshot changes nothing');
  });
});

interface GenWrite {
  readonly client: number;
  readonly seq: number;
  readonly back: number;
}

describe('KvStateMachine sessions with watermarks: properties', () => {
  it('writes each (session, sequence) at most once under any interleaving and duplication; replays alike', () => {
    const writeArb = fc.record({
      client: fc.integer({ min: 0, max: 2 }),
      seq: fc.integer({ min: 1, max: 10 }),
      back: fc.integer({ min: 0, max: 10 }),
    });
    fc.assert(
      fc.property(fc.array(writeArb, { maxLength: 60 }), fc.nat(60), (writes: GenWrite[], cut) => {
        const options = { sessionResponsesMax: 3 };
        const sm = new KvStateMachine(options);
        const revisions = new Map<string, number>();
        const entries = writes.map((w, i) => ({
          term: 1,
          index: i + 1,
          type: 'command' as const,
          command: encodeKvCommand({
            op: 'put',
            key: `k${w.seq % 3}`,
            value: bytes(`c${w.client}#${w.seq}`),
            returnPrevious: false,
            session: { clientId: `c${w.client}`, seq: w.seq, ackedBelow: Math.max(1, w.seq - w.back) },
            timeMs: i,
          }),
        }));
        entries.forEach((entry, i) => {
          const result = decodeKvResult(sm.apply(entry));
          const w = writes[i];
          if (w === undefined || result.type !== 'put') return;
          const key = `c${w.client}#${w.seq}`;
          const first = revisions.get(key);
          if (first === undefined) revisions.set(key, result.revision);
          else assert.equal(result.revision, first, `${key} was written twice`);
        });
        sm.checkInvariants();
        const replica = new KvStateMachine(options);
        const at = Math.min(cut, entries.length);
        for (const entry of entries.slice(0, at)) replica.apply(entry);
        const restored = new KvStateMachine(options);
        restored.restore(metaAt(at), replica.snapshot());
        for (const entry of entries.slice(at)) restored.apply(entry);
        assert.equal(Buffer.compare(restored.snapshot(), sm.snapshot()), 0, 'byte-identical snapshots');
      }),
      fcParams(500, 'kv watermark sessions at most once'),
    );
  });
});
