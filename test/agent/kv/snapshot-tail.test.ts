// Proves the snapshot framing written without cbor-x (agent/kv/snapshot-bytes.ts) and the tail
// items encoded into one buffer (agent/kv/snapshot-tail.ts), issue 16:
// - entries that take cbor-x's path (a key with a lone or paired surrogate, a revision or lease
//   past 32 bits) and those framed directly, mixed, leased or not, give the bytes of the entries
//   encoded by cbor-x one by one;
// - the tail items give the bytes of their encodings joined, from a buffer of the bound, whose
//   size the bound covers; with a bound too small (a bug) the same bytes still come out;
// - the tail of a store with a 4 MiB history window allocates about its own size, where encoding
//   the items one by one grew cbor-x's output buffer to four times the window.
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Encoder } from 'cbor-x';
import { kvSnapshotPieces, type KvSnapshotParts } from '../../../agent/kv/snapshot.js';
import { encodeKvSnapshotParts } from '../../../agent/kv/snapshot-bytes.js';
import { encodeTailItems } from '../../../agent/kv/snapshot-tail.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { Driver } from './kv-helpers.js';

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
});
