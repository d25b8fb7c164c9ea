// Proves that the CBOR serializer's reuse of the last AppendEntries encoding (codec/last-append.ts)
// never changes what is encoded. Property: for any sequence of AppendEntries requests drawn from a
// few values per field and a few entry objects (so that repeats, near repeats and lists changed
// after encoding all occur), one serializer encodes each request to exactly the bytes a fresh
// serializer gives it. Also: a request equal to the last one, with the same entry objects, gets the
// same bytes without a second encoding; a heartbeat and an encoding above LAST_APPEND_BYTES_MAX are
// never kept. Replays with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { LogEntry } from '../../contracts/log.js';
import type { AppendEntriesRequest } from '../../contracts/messages.js';
import { CborSerializer } from '../../codec/index.js';
import { LAST_APPEND_BYTES_MAX } from '../../codec/last-append.js';
import { fcParams } from '../fc-params.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function entry(index: number, fill: number, bytes = 3): LogEntry {
  return { term: 2, index, type: 'command', command: new Uint8Array(bytes).fill(fill) };
}

function request(entries: readonly LogEntry[], changes: Partial<AppendEntriesRequest> = {}): AppendEntriesRequest {
  return {
    type: 'AppendEntriesRequest',
    term: 2,
    leaderId: 'n1',
    prevLogIndex: 4,
    prevLogTerm: 1,
    entries,
    leaderCommit: 3,
    ...changes,
  };
}

describe('CborSerializer: the last AppendEntries encoding', () => {
  it('encodes any sequence of requests to the bytes a fresh serializer gives each', () => {
    const pool = [entry(5, 1), entry(5, 2), entry(6, 3), entry(6, 3)];
    const step = fc.record({
      term: fc.constantFrom(2, 3),
      leaderId: fc.constantFrom('n1', 'n2'),
      prevLogIndex: fc.constantFrom(4, 5),
      prevLogTerm: fc.constantFrom(1, 2),
      leaderCommit: fc.constantFrom(3, 4),
      picks: fc.array(fc.nat({ max: pool.length - 1 }), { maxLength: 3 }),
      fresh: fc.boolean(),
      pushAfter: fc.option(fc.nat({ max: pool.length - 1 }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const cbor = new CborSerializer();
        let list: LogEntry[] = [];
        for (const s of steps) {
          // A new list, or the same list object as the previous request (changed below after its encoding).
          if (s.fresh) list = s.picks.map((i) => pool[i] ?? entry(9, 9));
          const { term, leaderId, prevLogIndex, prevLogTerm, leaderCommit } = s;
          const r = request(list, { term, leaderId, prevLogIndex, prevLogTerm, leaderCommit });
          assert.equal(hex(cbor.encode(r)), hex(new CborSerializer().encode(r)));
          if (s.pushAfter !== null) list.push(pool[s.pushAfter] ?? entry(9, 9));
        }
      }),
      fcParams(1000),
    );
  });

  it('gives a request equal to the last one, with the same entry objects, the same bytes', () => {
    const cbor = new CborSerializer();
    const entries = [entry(5, 1), entry(6, 2)];
    const first = cbor.encode(request(entries));
    assert.equal(cbor.encode(request(entries.slice())), first, 'the very same bytes, not a second encoding');
    const copies = entries.map((e) => ({ ...e }));
    const again = cbor.encode(request(copies));
    assert.notEqual(again, first, 'equal entries that are other objects are encoded again');
    assert.equal(hex(again), hex(first));
  });

  it('keeps neither a heartbeat nor an encoding above LAST_APPEND_BYTES_MAX', () => {
    const cbor = new CborSerializer();
    const heartbeat = cbor.encode(request([]));
    assert.notEqual(cbor.encode(request([])), heartbeat);
    const large = [entry(5, 1, LAST_APPEND_BYTES_MAX)];
    const bytes = cbor.encode(request(large));
    assert.ok(bytes.byteLength > LAST_APPEND_BYTES_MAX);
    assert.notEqual(cbor.encode(request(large)), bytes);
  });
});
