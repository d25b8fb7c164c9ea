// Proves the bytes of the local endpoint's answer to a write, now written directly (responses.ts revisionEtag and
// revisionsJson, documents.ts storeRevisionOption):
// - property: for any revisions (safe integers >= 0, around every byte-width and digit-count edge), the ETag, the
//   JSON body and the Store-Revision option are exactly what the earlier way gave: an 8-byte big-endian BigInt
//   through a DataView; JSON.stringify of {revision, storeRevision} encoded as UTF-8; the minimal big-endian bytes
//   built in an array.
// - on a one-node cluster (virtual time): a PUT that creates its key answers 2.01 Created and one
//   that changes it 2.04 Changed (RFC 7252 §5.8.3), a PUT with If-None-Match 2.01 and one with
//   If-Match 2.04; a retry of a `?client=&seq=` write answered from its session, after the key was
//   written again, answers the code of the first answer.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { revisionEtag, revisionsJson } from '../../../agent/endpoint/responses.js';
import { storeRevisionOption } from '../../../agent/endpoint/documents.js';
import { fcParams } from '../../fc-params.js';
import { CoapOption, formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { callEndpoint, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

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

describe('the code of the answer to a PUT', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  type Option = { readonly number: number; readonly value: Uint8Array };
  const put = (key: string, value: string, query: string[] = [], options: Option[] = []): Promise<string> =>
    callEndpoint(h, { method: 'PUT', path: ['kv', key], query, payload: Buffer.from(value), options }).then(
      (r: CoapClientResponse) => formatCode(r.code),
    );
  const ifNoneMatch: Option = { number: CoapOption.IfNoneMatch, value: new Uint8Array(0) };

  it('is 2.01 when the PUT creates the key, 2.04 when it changes it, and a retry answers as the first', async () => {
    h = await virtualEndpointNode();
    assert.equal(await put('k', 'one'), '2.01');
    assert.equal(await put('k', 'two'), '2.04');
    assert.equal(await put('s', 'first', ['client=c1', 'seq=1']), '2.01');
    assert.equal(await put('s', 'later'), '2.04');
    assert.equal(await put('s', 'first', ['client=c1', 'seq=1']), '2.01', 'the retry answers as the first did');
    assert.equal(await put('u', 'x', ['client=c1', 'seq=2']), '2.01');
    assert.equal(await put('u', 'y', ['client=c1', 'seq=3']), '2.04');
    assert.equal(await put('u', 'y', ['client=c1', 'seq=3']), '2.04', 'a retry of a change answers 2.04');
  });

  it('is 2.01 for a PUT with If-None-Match and 2.04 for one with If-Match', async () => {
    h = await virtualEndpointNode();
    assert.equal(await put('c', 'one', [], [ifNoneMatch]), '2.01');
    assert.equal(await put('c', 'two', [], [ifNoneMatch]), '4.12');
    const read = await callEndpoint(h, { method: 'GET', path: ['kv', 'c'] });
    const revision = Number(Buffer.from(read.etag ?? []).readBigUInt64BE());
    assert.equal(await put('c', 'two', [], [{ number: CoapOption.IfMatch, value: Uint8Array.of(revision) }]), '2.04');
  });
});
