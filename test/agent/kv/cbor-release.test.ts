// Proves that decoding a large input through decodeCbor (agent/kv/fields.ts) keeps no reference
// to it: cbor-x holds a DataView of the last input it decoded in its module until its next
// decode, which kept a restored snapshot's whole node state (21 MB for a 16 MiB store) resident
// on a node whose later decodes take the direct paths. Watched through a WeakRef after a
// collection: without the release the input stays reachable and the test fails.
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Encoder } from 'cbor-x';
import { decodeCbor } from '../../../agent/kv/fields.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  // A WeakRef target stays alive until the job that created or read it ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
}

/** Decodes a fresh input of `bytes` bytes and returns a WeakRef to its memory. */
function decodeOnce(bytes: number): WeakRef<ArrayBufferLike> {
  const encoded = new Encoder({ useRecords: false }).encode(['state', Buffer.alloc(bytes, 7)]);
  const input = new Uint8Array(encoded.byteLength);
  input.set(encoded);
  const decoded = decodeCbor(input, 'test input');
  assert.ok(Array.isArray(decoded) && decoded[0] === 'state');
  return new WeakRef(input.buffer);
}

describe('decodeCbor and its input', () => {
  it('lets a large input go once it is decoded', async () => {
    const input = decodeOnce(1 << 20);
    await collect();
    assert.equal(input.deref(), undefined, 'the decoded input is still reachable');
  });
});
