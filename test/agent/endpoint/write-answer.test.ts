// Proves the bytes of the local endpoint's answer to a write, now written directly (responses.ts revisionEtag and
// revisionsJson, documents.ts storeRevisionOption):
// - property: for any revisions (safe integers >= 0, around every byte-width and digit-count edge), the ETag, the
//   JSON body and the Store-Revision option are exactly what the earlier way gave: an 8-byte big-endian BigInt
//   through a DataView; JSON.stringify of {revision, storeRevision} encoded as UTF-8; the minimal big-endian bytes
//   built in an array.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { revisionEtag, revisionsJson } from '../../../agent/endpoint/responses.js';
import { storeRevisionOption } from '../../../agent/endpoint/documents.js';
import { fcParams } from '../../fc-params.js';

const edges = [0, 1, 9, 10, 99, 100, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3];
const revisionArb = fc.oneof(
  fc.constantFrom(...edges, 10 ** 15, 10 ** 15 - 1, Number.MAX_SAFE_INTEGER),
  fc.constantFrom(...edges).chain((e) => fc.integer({ min: Math.max(0, e - 2), max: e + 2 })),
  fc.maxSafeNat(),
);

function etagBefore(revision: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(revision));
  return bytes;
}

function optionBytesBefore(revision: number): Uint8Array {
  const bytes: number[] = [];
  for (let rest = revision; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.from(bytes);
}

describe('the answer to a write', () => {
  it('has the same ETag, JSON body and Store-Revision option as before, for any revisions', () => {
    fc.assert(
      fc.property(revisionArb, revisionArb, (revision, storeRevision) => {
        assert.deepEqual(revisionEtag(revision), etagBefore(revision));
        const json = new TextEncoder().encode(JSON.stringify({ revision, storeRevision }));
        assert.deepEqual(revisionsJson(revision, storeRevision), json);
        assert.deepEqual(storeRevisionOption(storeRevision).value, optionBytesBefore(storeRevision));
      }),
      fcParams(),
    );
  });
});
