// Proves that encoding through encodeCbor never leaves small encodings pinning a large buffer:
// cbor-x shares one output buffer between all its encoders and grows it to four times the largest
// encoding; after a node-state snapshot of a few MiB, a log command encoded next was a view of a
// 17 MiB buffer (and the in-memory log kept several alive). Here a large encoding owns its
// buffer, a command encoded after a 4 MiB node state views a buffer within 4 x CBOR_VIEW_BYTES_MAX,
// and (property) over any sequence of encodings of any sizes, every earlier encoding still holds
// its bytes (handing cbor-x a fresh buffer never overwrites one still in use) and every small one
// views a buffer within that bound.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { Decoder, Encoder } from 'cbor-x';
import { CBOR_VIEW_BYTES_MAX, encodeCbor } from '../../../agent/kv/cbor-output.js';
import { decodeKvCommand, encodeKvCommand } from '../../../agent/kv/encoding.js';
import { encodeNodeState } from '../../../agent/trust/trust-codec.js';
import type { KvCommand } from '../../../agent/kv/types.js';
import { fcParams } from '../../fc-params.js';

const SHARED_BUFFER_BYTES_MAX = 4 * CBOR_VIEW_BYTES_MAX;
const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });

const command = (value: Uint8Array): KvCommand => ({
  op: 'put',
  key: 'gateway/7',
  value,
  returnPrevious: false,
  timeMs: 1_700_000_000_000,
  session: null,
});

describe('encodeCbor (cbor-x output buffer)', () => {
  it('gives a large encoding a buffer of its own', () => {
    const big = new Uint8Array(CBOR_VIEW_BYTES_MAX + 1).fill(7);
    const out = encodeCbor(encoder, [1, big]);
    assert.equal(out.buffer.byteLength, out.byteLength);
    assert.deepEqual(decoder.decode(out), [1, big]);
  });

  it('leaves a command encoded after a 4 MiB node state viewing a small buffer', () => {
    const state = encodeNodeState(new Uint8Array(4 * 1024 * 1024).fill(1), new Uint8Array(64));
    assert.equal(state.buffer.byteLength, state.byteLength);
    const bytes = encodeKvCommand(command(new Uint8Array(256).fill(2)));
    assert.ok(
      bytes.buffer.byteLength <= SHARED_BUFFER_BYTES_MAX,
      `a 300-byte command views a ${bytes.buffer.byteLength}-byte buffer`,
    );
    assert.deepEqual(decodeKvCommand(bytes), command(new Uint8Array(256).fill(2)));
  });

  it('keeps every earlier encoding intact and small ones on bounded buffers, whatever the sizes', () => {
    const sizes = fc.array(fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 1, max: 600_000 })), {
      minLength: 1,
      maxLength: 24,
    });
    fc.assert(
      fc.property(sizes, (lengths) => {
        const kept = lengths.map((length, i) => {
          const value = new Uint8Array(length).fill(i & 0xff);
          const out = encodeCbor(encoder, { i, value });
          if (out.byteLength <= CBOR_VIEW_BYTES_MAX) assert.ok(out.buffer.byteLength <= SHARED_BUFFER_BYTES_MAX);
          else assert.equal(out.buffer.byteLength, out.byteLength);
          return { i, value, out };
        });
        for (const { i, value, out } of kept) assert.deepEqual(decoder.decode(out), { i, value });
      }),
      fcParams(60, 'encodeCbor keeps encodings intact and bounded'),
    );
  });
});
