// Proves that decoding a large input through decodeCbor (agent/kv/fields.ts) keeps no reference
// to it: cbor-x holds a DataView of the last input it decoded in its module until its next
// decode, which kept a restored snapshot's whole node state (21 MB for a 16 MiB store) resident
// on a node whose later decodes take the direct paths. Watched through a WeakRef after a
// collection: without the release the input stays reachable and the test fails; so does the
// large buffer of a small input that views it.
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import { decodeCbor } from '../../../agent/kv/fields.js';
import { collectGarbage } from '../../collect-garbage.js';

/**
 * Decodes a fresh input of `bytes` bytes, at the start of a buffer `slack` bytes larger (a view of
 * it), and returns a WeakRef to that buffer.
 */
function decodeOnce(bytes: number, slack = 0): WeakRef<ArrayBufferLike> {
  const encoded = new Encoder({ useRecords: false }).encode(['state', Buffer.alloc(bytes, 7)]);
  const buffer = new Uint8Array(encoded.byteLength + slack);
  buffer.set(encoded);
  const decoded = decodeCbor(buffer.subarray(0, encoded.byteLength), 'test input');
  assert.ok(Array.isArray(decoded) && decoded[0] === 'state');
  return new WeakRef(buffer.buffer);
}

describe('decodeCbor and its input', () => {
  it('lets a large input go once it is decoded', async () => {
    const input = decodeOnce(1 << 20);
    await collectGarbage();
    assert.equal(input.deref(), undefined, 'the decoded input is still reachable');
  });

  it('lets a small input go that views a large buffer (the trust part of a node state)', async () => {
    const buffer = decodeOnce(100, 1 << 20);
    await collectGarbage();
    assert.equal(buffer.deref(), undefined, 'the buffer of the decoded input is still reachable');
  });
});
