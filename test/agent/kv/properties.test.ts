// Property tests of the KV state machine over generated logs (commands of several clients with
// retries, stale sequences, expiring sessions and limits hit, plus noop, config and garbage
// entries):
// - Property 14 (snapshot preserves state): after snapshot -> restore, every query and every
//   later command gives byte-identical results to the original, and snapshots stay identical;
// - determinism: two replicas fed the same entries give identical results and snapshots
//   (compared by SHA-256 digest);
// - malformed commands (arbitrary bytes, arbitrary CBOR) never throw; they give error results.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fc from 'fast-check';
import { Encoder } from 'cbor-x';
import type { LogEntry, SnapshotMeta } from '../../../contracts/log.js';
import { decodeKvResult, encodeKvQuery } from '../../../agent/kv/encoding.js';
import type { KvOptions } from '../../../agent/kv/options.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { fcParams } from '../../fc-params.js';
import { genEntryArb, toLogEntries } from './arbitraries.js';
import { storedImageOf } from './kv-helpers.js';

/** Small limits so that generated logs hit every one of them. */
const SMALL: Partial<KvOptions> = {
  keyBytesMax: 4,
  valueBytesMax: 8,
  keyCountMax: 3,
  dataBytesMax: 20,
  sessionCountMax: 2,
  sessionTtlMs: 2000,
  cachedResponseBytesMax: 64,
  sessionResponsesMax: 3,
  sessionBytesMax: 64 + 1024,
  requestIdsMax: 2,
  requestIdTtlMs: 1500,
};
const KEYS = ['a', 'b', 'c', 'é', 'a-long-key-name', 'absent'];

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function metaAt(index: number): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
  };
}

function queries(sm: KvStateMachine): string[] {
  return KEYS.map((key) => digest(sm.query(encodeKvQuery({ op: 'get', key }))));
}

function applyAll(sm: KvStateMachine, entries: readonly LogEntry[]): string[] {
  return entries.map((entry) => digest(sm.apply(entry)));
}

describe('KvStateMachine properties', () => {
  it('Property 14: snapshot then restore (or restoreFrom storage) preserves every query and every later result', () => {
    const arb = fc.tuple(fc.array(genEntryArb, { maxLength: 40 }), fc.array(genEntryArb, { maxLength: 40 }));
    fc.assert(
      fc.property(arb, ([before, after]) => {
        const original = new KvStateMachine(SMALL);
        const log = toLogEntries([...before, ...after], 1);
        applyAll(original, log.slice(0, before.length));
        const image = original.snapshot();
        const restored = new KvStateMachine(SMALL);
        restored.restore(metaAt(before.length), image);
        assert.equal(digest(restored.snapshot()), digest(image), 'the restored state snapshots identically');
        assert.deepEqual(queries(restored), queries(original));
        assert.deepEqual(restored.stats(), original.stats());
        // The same image read from storage a window at a time, over a state it replaces.
        const fromStorage = new KvStateMachine(SMALL);
        applyAll(fromStorage, toLogEntries(after, 1));
        fromStorage.restoreFrom(metaAt(before.length), storedImageOf(image));
        assert.equal(digest(fromStorage.snapshot()), digest(image), 'restoreFrom gives the state restore gives');
        assert.deepEqual(fromStorage.stats(), original.stats());
        const rest = log.slice(before.length);
        const later = applyAll(original, rest);
        assert.deepEqual(applyAll(restored, rest), later);
        assert.deepEqual(applyAll(fromStorage, rest), later);
        assert.equal(digest(restored.snapshot()), digest(original.snapshot()));
        assert.equal(digest(fromStorage.snapshot()), digest(original.snapshot()));
        assert.deepEqual(queries(restored), queries(original));
        assert.deepEqual(queries(fromStorage), queries(original));
        original.checkInvariants();
        restored.checkInvariants();
        fromStorage.checkInvariants();
      }),
      fcParams(300, 'kv property 14 snapshot restore'),
    );
  });

  it('two replicas fed the same entries give identical results and snapshots', () => {
    fc.assert(
      fc.property(fc.array(genEntryArb, { maxLength: 80 }), fc.nat(80), (gen, cut) => {
        const log = toLogEntries(gen, 1);
        const a = new KvStateMachine(SMALL);
        const b = new KvStateMachine(SMALL);
        // Replica b also snapshots in the middle (as a node compacting its log would).
        const at = Math.min(cut, log.length);
        const resultsA = applyAll(a, log);
        const resultsB = applyAll(b, log.slice(0, at));
        const middle = b.snapshot();
        assert.ok(middle.length > 0);
        resultsB.push(...applyAll(b, log.slice(at)));
        assert.deepEqual(resultsB, resultsA);
        assert.equal(digest(b.snapshot()), digest(a.snapshot()));
      }),
      fcParams(300, 'kv replicas agree'),
    );
  });

  it('never throws on malformed commands; they yield KV_MALFORMED and change nothing', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.anything().map((v) => new Uint8Array(raw.encode(v))),
      fc
        .record({
          op: fc.constantFrom('put', 'get', 'cas', 'delete'),
          key: fc.anything(),
          time: fc.anything(),
          value: fc.anything(),
        })
        .map((v) => new Uint8Array(raw.encode(v))),
    );
    fc.assert(
      fc.property(fc.array(garbage, { minLength: 1, maxLength: 20 }), (inputs) => {
        const sm = new KvStateMachine(SMALL);
        let changed = false;
        inputs.forEach((command, i) => {
          const result = decodeKvResult(sm.apply({ term: 1, index: i + 1, type: 'command', command }));
          if (result.type !== 'error') {
            changed = true; // a random map can be a valid command
            return;
          }
          assert.ok(
            ['KV_MALFORMED', 'KV_KEY_TOO_LONG', 'KV_VALUE_TOO_LARGE', 'KV_SESSION_EXPIRED'].includes(result.code),
            result.code,
          );
        });
        if (!changed) {
          const fresh = new KvStateMachine(SMALL);
          fresh.restore(metaAt(inputs.length), new Uint8Array(0));
          assert.equal(digest(sm.snapshot()), digest(fresh.snapshot()), 'only lastApplied moved');
        }
      }),
      fcParams(500, 'kv malformed never throws'),
    );
  });

  it('does not let a CBOR record definition in one entry change how a later entry decodes', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const fields = ['op', 'key', 'value', 'prev', 'time'];
    const values = ['put', 'k', Buffer.from('v'), false, 0];
    // Tag 0xdfff defines record 0xe000 and encodes one record; tag 0xe000 alone refers to it.
    const definition = Buffer.concat([Buffer.from('d9dfff', 'hex'), raw.encode([0xe000, fields, ...values])]);
    const reference = Buffer.concat([Buffer.from('d9e000', 'hex'), raw.encode(values)]);
    const a = new KvStateMachine();
    a.apply({ term: 1, index: 1, type: 'command', command: definition });
    const b = new KvStateMachine();
    b.restore(metaAt(1), a.snapshot());
    const fromA = decodeKvResult(a.apply({ term: 1, index: 2, type: 'command', command: reference }));
    const fromB = decodeKvResult(b.apply({ term: 1, index: 2, type: 'command', command: reference }));
    assert.equal(fromA.type === 'error' && fromA.code, 'KV_MALFORMED');
    assert.deepEqual(fromB, fromA);
  });

  it('refuses a malformed snapshot or one whose index differs from its metadata, keeping its state', () => {
    const sm = new KvStateMachine();
    sm.apply({ term: 1, index: 1, type: 'noop', command: new Uint8Array(0) });
    const before = digest(sm.snapshot());
    const other = new KvStateMachine();
    assert.throws(() => sm.restore(metaAt(5), other.snapshot()), { code: 'CODEC_MALFORMED' });
    assert.throws(() => sm.restore(metaAt(0), new Uint8Array([1, 2, 3])), { code: 'CODEC_MALFORMED' });
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const unsorted = raw.encode([
      'coraft-kv',
      1,
      9,
      0,
      [
        ['b', Buffer.from(''), 1],
        ['a', Buffer.from(''), 2],
      ],
      [],
    ]);
    assert.throws(() => sm.restore(metaAt(9), unsorted), /sorted by key/);
    const future = raw.encode(['coraft-kv', 1, 9, 0, [['a', Buffer.from(''), 10]], []]);
    assert.throws(() => sm.restore(metaAt(9), future), /revision must be an integer from 1 to 9/);
    assert.throws(() => sm.restore(metaAt(9), raw.encode(['coraft-kv', 6, 9, 0, [], []])), { code: 'CODEC_VERSION' });
    assert.throws(() => sm.restore(metaAt(9), raw.encode(['coraft-kv', 0, 9, 0, [], []])), { code: 'CODEC_VERSION' });
    assert.equal(digest(sm.snapshot()), before);
  });
});
