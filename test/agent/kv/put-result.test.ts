// Proves the direct writer and reader of put results (agent/kv/put-result.ts):
// - property: the bytes written are exactly cbor-x's for the same map (what the results were before,
//   and what replicas keep in their sessions), for any revisions, around every integer-width edge
//   and beyond 2^32 (float64), with `new: true` for a put that created its key and without it
//   (the bytes of before) for one that replaced a value;
// - property: the reader gives exactly what the generic decoder gives for them, and for any bytes
//   made from them by changing, dropping or adding bytes it gives null or what the generic
//   decoder gives;
// - encodeKvResult/decodeKvResult take that path for a put result without prev, and round-trip;
// - property: a PutAnswer (a put result kept unencoded) has the encoding's length and gives exactly
//   its bytes, the same buffer at every call; it exists exactly when the direct writer writes.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { decodeKvResult, decodeKvResultGeneric, encodeKvResult } from '../../../agent/kv/result-encoding.js';
import { PutAnswer, decodePutResultDirect, encodePutResultDirect } from '../../../agent/kv/put-result.js';
import type { KvResult } from '../../../agent/kv/types.js';
import { SerializationError } from '../../../contracts/errors.js';
import { fcParams } from '../../fc-params.js';

const cborX = new Encoder({ mapsAsObjects: true, useRecords: false });
const edges = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
const revisionArb = fc.oneof(
  fc.constantFrom(...edges),
  fc.constantFrom(...edges).chain((e) => fc.integer({ min: Math.max(0, e - 2), max: Math.min(e + 2, 2 ** 53 - 1) })),
  fc.maxSafeNat(),
);

function generic(bytes: Uint8Array): KvResult | 'malformed' {
  try {
    return decodeKvResultGeneric(bytes);
  } catch (error) {
    if (error instanceof SerializationError) return 'malformed';
    throw error;
  }
}

describe('put results written and read directly', () => {
  it("writes cbor-x's bytes, which both readers read alike", () => {
    fc.assert(
      fc.property(revisionArb, fc.option(revisionArb, { nil: undefined }), fc.boolean(), (rev, srev, created) => {
        const map: Record<string, unknown> = { type: 'put', rev, prev: null };
        if (created) map['new'] = true;
        if (srev !== undefined) map['srev'] = srev;
        const direct = encodePutResultDirect(rev, srev, created);
        assert.ok(direct !== null);
        assert.deepEqual(Buffer.from(direct).toString('hex'), Buffer.from(cborX.encode(map)).toString('hex'));
        if (rev >= 1) assert.notEqual(decodePutResultDirect(direct), null);
        assert.deepEqual(decodePutResultDirect(direct) ?? generic(direct), generic(direct));
      }),
      fcParams(1000),
    );
  });

  it('reads damaged results as null or as the generic decoder does', () => {
    const edit = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('set', 'drop', 'insert'),
    });
    fc.assert(
      fc.property(
        revisionArb,
        revisionArb,
        fc.boolean(),
        fc.array(edit, { minLength: 1, maxLength: 3 }),
        (rev, srev, created, edits) => {
          let list = Array.from(encodePutResultDirect(rev, srev, created) ?? []);
          for (const { at, byte, kind } of edits) {
            const i = at % (list.length + 1);
            if (kind === 'set' && i < list.length) list[i] = byte;
            if (kind === 'drop') list.splice(i, 1);
            if (kind === 'insert') list.splice(i, 0, byte);
            list = [...list];
          }
          const bytes = Uint8Array.from(list);
          const direct = decodePutResultDirect(bytes);
          if (direct !== null) assert.deepEqual(direct, generic(bytes));
        },
      ),
      fcParams(2000),
    );
  });

  it('is the way encodeKvResult and decodeKvResult take for a put without prev', () => {
    for (const created of [false, true]) {
      const result: KvResult = { type: 'put', revision: 70_000, previous: null, created, storeRevision: 70_001 };
      const bytes = encodeKvResult(result);
      assert.deepEqual(bytes, encodePutResultDirect(70_000, 70_001, created));
      assert.deepEqual(decodeKvResult(bytes), result);
    }
    const previous = { value: Uint8Array.of(1), revision: 2 };
    const withPrev: KvResult = { type: 'put', revision: 3, previous, created: false };
    assert.deepEqual(decodeKvResult(encodeKvResult(withPrev)), withPrev);
    // A result kept by an older version (no `new`) reads as a put that replaced a value.
    const older = cborX.encode({ type: 'put', rev: 5, prev: null, srev: 5 });
    assert.deepEqual(decodeKvResult(older), {
      type: 'put',
      revision: 5,
      previous: null,
      created: false,
      storeRevision: 5,
    });
    assert.throws(
      () => decodeKvResult(cborX.encode({ type: 'put', rev: 5, prev: null, new: false })),
      SerializationError,
    );
  });

  it('gives a PutAnswer the bytes and length of the direct encoding, made once', () => {
    fc.assert(
      fc.property(revisionArb, revisionArb, fc.boolean(), (rev, srev, created) => {
        const answer = PutAnswer.of(rev, srev, created);
        const direct = encodePutResultDirect(rev, srev, created);
        assert.equal(answer === null, direct === null);
        if (answer === null || direct === null) return;
        assert.equal(answer.byteLength, direct.byteLength);
        assert.deepEqual(answer.bytes(), direct);
        assert.equal(answer.bytes(), answer.bytes());
      }),
      fcParams(1000),
    );
    assert.equal(PutAnswer.of(-1, 0, false), null);
    const previous = { value: Uint8Array.of(1), revision: 2 };
    assert.equal(PutAnswer.ofResult({ type: 'put', revision: 3, previous, created: false }, 4), null);
    const created = PutAnswer.ofResult({ type: 'put', revision: 3, previous: null, created: true }, 4);
    assert.deepEqual(created?.bytes(), encodePutResultDirect(3, 4, true));
  });
});
