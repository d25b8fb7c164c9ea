// Proves the snapshot framing written without cbor-x (agent/kv/snapshot-bytes.ts) and the tail
// items encoded into one buffer (agent/kv/snapshot-tail.ts), issue 16:
// - entries that take cbor-x's path (a key with a lone or paired surrogate, a revision or lease
//   past 32 bits) and those framed directly, mixed, leased or not, give the bytes of the entries
//   encoded by cbor-x one by one;
// - the tail items give the bytes of their encodings joined, from a buffer of the bound, whose
//   size the bound covers; with a bound too small (a bug) the same bytes still come out;
// - the tail of a store with a 4 MiB history window allocates about its own size, where encoding
//   the items one by one grew cbor-x's output buffer to four times the window;
// - property: the request ids (from a table's columns) and the history window, written without
//   cbor-x, give the bytes cbor-x gives for their lists built as the layout says, for any client
//   ids and keys (surrogates included, which send the item through cbor-x), sequences, times and
//   revisions (2^32 and above included, which cbor-x writes as floats), and null values;
// - a state machine's snapshot takes the direct path for what its tables hold.
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Encoder } from 'cbor-x';
import { kvSnapshotPieces, type KvSnapshotParts } from '../../../agent/kv/snapshot.js';
import { encodeKvSnapshotParts } from '../../../agent/kv/snapshot-bytes.js';
import * as fc from 'fast-check';
import { encodeTailItems, historyItem, requestIdsItem } from '../../../agent/kv/snapshot-tail.js';
import { REQUEST_ID_BYTES, RequestIdTable } from '../../../agent/kv/request-ids.js';
import type { KvChange } from '../../../agent/kv/history.js';
import { fcParams } from '../../fc-params.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { Driver, commandEntry } from './kv-helpers.js';

setFlagsFromString('--expose-gc');
const collect: unknown = runInNewContext('gc');

function parts(leased: boolean): KvSnapshotParts {
  const keys = ['a', 'b\uD800', 'c😀', 'd'.repeat(300), 'e', 'é'.repeat(40)];
  const revisions = [1, 2, 3, 2 ** 33, 70_000, 2 ** 32 - 1];
  return {
    prefix: Uint8Array.of(0x84),
    entries: {
      keys,
      values: keys.map((_, i) => ({ value: new Uint8Array(i * 100).fill(i), revision: revisions[i] ?? 1 })),
      leases: keys.map((_, i) => (i === 4 ? 2 ** 40 : i)),
    },
    leased,
    suffix: Uint8Array.of(0xf6),
  };
}

describe('snapshot framing and tail', () => {
  it('frames entries as cbor-x does, on either path', () => {
    for (const leased of [false, true]) {
      const p = parts(leased);
      assert.deepEqual(Buffer.from(encodeKvSnapshotParts(p)), Buffer.concat(kvSnapshotPieces(p)));
    }
  });

  it('encodes the tail items as their encodings joined, within the bound or not', () => {
    const items = [[['client', 1, 2, [[1, Buffer.alloc(5000, 1)]]]], [], 7, 3, [[5, 'k'.repeat(100), null]], 2 ** 40];
    const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
    const expected = Buffer.concat(items.map((item) => Buffer.from(encoder.encode(item))));
    assert.deepEqual(Buffer.from(encodeTailItems(items, expected.length + 64)), expected);
    assert.deepEqual(Buffer.from(encodeTailItems(items, 16)), expected);
  });

  it('allocates a 4 MiB history window about once', () => {
    const driver = new Driver(new KvStateMachine({ keyCountMax: 10_000 }));
    for (let i = 0; i < 2048; i += 1) driver.put(`key-${i % 64}`, 'v'.repeat(4096));
    driver.sm.snapshotParts(); // warm-up
    if (typeof collect === 'function') collect();
    const before = process.memoryUsage().arrayBuffers;
    const { suffix } = driver.sm.snapshotParts();
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(suffix.byteLength > 2 * 1024 * 1024, `a tail of ${suffix.byteLength} bytes`);
    assert.ok(grown < 1.5 * suffix.byteLength, `array buffers grew by ${grown} for a ${suffix.byteLength}-byte tail`);
  });

  it('writes request ids and history as cbor-x does (property)', () => {
    const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
    const count = fc.oneof(fc.nat(300), fc.constantFrom(2 ** 32 - 1, 2 ** 32, 2 ** 40 + 1, Number.MAX_SAFE_INTEGER));
    const id = fc.uint8Array({ minLength: REQUEST_ID_BYTES, maxLength: REQUEST_ID_BYTES });
    const requests = fc.array(fc.record({ id, clientId: text, seq: count, usedMs: count }), { maxLength: 40 });
    const value = fc.option(fc.uint8Array({ maxLength: 300 }));
    const changes = fc.array(fc.record({ revision: count, key: text, value }), { maxLength: 40 });
    const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
    fc.assert(
      fc.property(requests, changes, (listed, history: KvChange[]) => {
        const table = new RequestIdTable({ countMax: 1000, ttlMs: 1000 });
        const kept = listed.filter(
          (r) => table.lookup(r.id) === undefined && table.record(r.id, r.clientId, r.seq, 0) >= 0,
        );
        const ids = table.columns();
        const expected = Buffer.concat([
          Buffer.from(encoder.encode(kept.map((r) => [Buffer.from(r.id), r.clientId, r.seq, 0]))),
          Buffer.from(encoder.encode(7)),
          Buffer.from(encoder.encode(history.map((c) => [c.revision, c.key, c.value && Buffer.from(c.value)]))),
        ]);
        const items = [requestIdsItem(ids), 7, historyItem(history)];
        // cbor-x starts an item only with 2 KiB of room left (snapshot-tail.ts CBOR_X_MARGIN_BYTES).
        const bound = expected.length + 4096 + requestIdsItem(ids).bound + historyItem(history).bound;
        assert.deepEqual(Buffer.from(encodeTailItems(items, bound)), expected);
        // Text without surrogates is written directly (else the comparison above only checked cbor-x).
        const surrogate = /[\uD800-\uDFFF]/;
        const direct = [kept.some((r) => surrogate.test(r.clientId)), history.some((c) => surrogate.test(c.key))];
        [requestIdsItem(ids), historyItem(history)].forEach((item, i) => {
          if (direct[i] === false) assert.ok(item.write(Buffer.alloc(item.bound), 0) >= 0, 'written directly');
        });
        return true;
      }),
      fcParams(300, 'kv snapshot tail direct items'),
    );
  });

  it('takes the direct path for a state machine whose tables hold plain text', () => {
    const sm = new KvStateMachine({ keyCountMax: 100 });
    for (let seq = 1; seq <= 50; seq += 1) {
      const requestId = new Uint8Array(REQUEST_ID_BYTES).fill(seq);
      const operation = {
        op: 'put',
        key: `key-${seq % 8}`,
        value: Buffer.from(`v${seq}`),
        returnPrevious: false,
      } as const;
      sm.apply(commandEntry(seq, { ...operation, session: { clientId: 'client-1', seq }, timeMs: seq, requestId }));
    }
    const { requestIds, history } = sm.snapshotSource();
    assert.ok(requestIds.count > 0 && history.length > 0, 'the state has request ids and history');
    for (const item of [requestIdsItem(requestIds), historyItem(history)]) {
      assert.ok(item.write(Buffer.alloc(item.bound), 0) > 0, 'written without cbor-x');
    }
  });
});
