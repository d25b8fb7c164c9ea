// Proves GET /kv (prefix listing) and the store revision on the local endpoint, on a one-node
// cluster with virtual time and our own CoAP client:
// - a listing answers {revision, items, more} sorted by key, values as UTF-8 or valueBase64,
//   each key with its revision (the ETag a GET answers), `more` and `after` page through it;
//   `stale` reads locally; revision is the store revision, which a write's answer carries in
//   `storeRevision` and every key-value answer in the Store-Revision option;
// - Accept 60 answers the same document in CBOR; another Accept is 4.06, as it is for GET /kv/{key}
//   (octet-stream only), /status and /members (JSON only);
// - bad arguments are 4.00, the reserved prefix 4.03; on /kv/{key} too, a query argument its method
//   does not take (a misspelt lease, never ignored) and a value given to the flag `stale`;
// - a listing larger than one block arrives whole through Block2.
import { strict as assert } from 'node:assert';
import { Decoder } from 'cbor-x';
import { STORE_REVISION_OPTION } from '../../../agent/endpoint/documents.js';
import { formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { firstOption } from '../../../transport/coap/options.js';
import { callEndpoint as call, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const json = (r: CoapClientResponse): unknown => JSON.parse(text(r));
const listing = (h: VirtualEndpointNode, ...query: string[]): Promise<CoapClientResponse> =>
  call(h, { method: 'GET', path: ['kv'], query });
const put = (h: VirtualEndpointNode, key: string, value: Uint8Array | string): Promise<CoapClientResponse> =>
  call(h, { method: 'PUT', path: ['kv', ...key.split('/')], payload: Buffer.from(value) });

function storeRevisionOf(r: CoapClientResponse): number {
  const value = firstOption(r.options, STORE_REVISION_OPTION);
  assert.ok(value !== null, 'the answer carries Store-Revision');
  return value.reduce((n, byte) => n * 256 + byte, 0);
}

describe('local endpoint: GET /kv listing and the store revision', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('lists a prefix in pages with values, revisions and the store revision', async () => {
    h = await virtualEndpointNode();
    const a = json(await put(h, 'app/a', 'one')) as { revision: number; storeRevision: number };
    assert.equal(a.storeRevision, a.revision);
    await put(h, 'app/c', Uint8Array.from([0xff, 0x00]));
    await put(h, 'other', 'x');
    const b = await put(h, 'app/b', 'two');
    const written = json(b) as { revision: number; storeRevision: number };
    assert.equal(storeRevisionOf(b), written.storeRevision);
    const first = await listing(h, 'prefix=app/', 'limit=2');
    assert.equal(formatCode(first.code), '2.05');
    assert.equal(first.contentFormat, 50);
    assert.deepEqual(json(first), {
      revision: written.storeRevision,
      items: [
        { key: 'app/a', value: 'one', revision: a.revision },
        { key: 'app/b', value: 'two', revision: written.revision },
      ],
      more: true,
    });
    assert.equal(storeRevisionOf(first), written.storeRevision);
    const second = json(await listing(h, 'prefix=app/', 'limit=2', 'after=app/b')) as {
      items: { key: string; valueBase64: string; revision: number }[];
      more: boolean;
    };
    assert.deepEqual(
      second.items.map((i) => [i.key, i.valueBase64]),
      [['app/c', Buffer.from([0xff, 0x00]).toString('base64')]],
    );
    assert.equal(second.more, false);
    const get = await call(h, { method: 'GET', path: ['kv', 'app', 'c'] });
    assert.equal(storeRevisionOf(get), written.storeRevision);
    assert.equal(Buffer.from(get.etag ?? []).readBigUInt64BE(), BigInt(second.items[0]?.revision ?? 0));
    const stale = json(await listing(h, 'stale')) as { items: unknown[] };
    assert.equal(stale.items.length, 4);
  });

  it('answers CBOR for Accept 60 and 4.06 for another Accept', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v');
    const cbor = await call(h, { method: 'GET', path: ['kv'], query: ['prefix=k'], accept: 60 });
    assert.equal(cbor.contentFormat, 60);
    const decoded: unknown = new Decoder({ mapsAsObjects: true, useRecords: false }).decode(cbor.payload);
    assert.deepEqual(decoded, { revision: 2, items: [{ key: 'k', value: 'v', revision: 2 }], more: false });
    const refused = await call(h, { method: 'GET', path: ['kv'], accept: 0 });
    assert.equal(formatCode(refused.code), '4.06');
  });

  it('answers 4.06 to an Accept that GET /kv/{key}, /status or /members cannot serve (RFC 7252 §5.10.4)', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v');
    for (const [path, served, refused] of [
      [['kv', 'k'], 42, [50, 0, 60]],
      [['status'], 50, [0, 42, 60]],
      [['members'], 50, [0, 60]],
    ] as const) {
      for (const accept of refused) {
        const response = await call(h, { method: 'GET', path: [...path], accept });
        assert.equal(formatCode(response.code), '4.06', `/${path.join('/')} Accept ${accept}`);
        assert.match(text(response), new RegExp(`Accept ${accept} is not served: .* Content-Format ${served} only`));
      }
      for (const accept of [served, undefined]) {
        const response = await call(h, { method: 'GET', path: [...path], ...(accept === undefined ? {} : { accept }) });
        assert.equal(formatCode(response.code), '2.05', `/${path.join('/')} Accept ${String(accept)}`);
        assert.equal(response.contentFormat, served);
      }
    }
  });

  it('refuses bad arguments with 4.00 and the reserved prefix with 4.03', async () => {
    h = await virtualEndpointNode();
    for (const [query, code, pattern] of [
      ['limit=0', '4.00', /limit must be an integer from 1 to 1000/],
      ['limit=1001', '4.00', /limit must be/],
      ['limit=x', '4.00', /limit must be/],
      ['sort=desc', '4.00', /unknown query argument 'sort'/],
      ['stale=false', '4.00', /stale takes no value/],
      ['prefix=.coraft/', '4.03', /reserved/],
    ] as const) {
      const response = await listing(h, query);
      assert.equal(formatCode(response.code), code, query);
      assert.match(text(response), pattern);
    }
  });

  it('refuses on /kv/{key} a query argument its method does not take, and writes nothing', async () => {
    h = await virtualEndpointNode();
    const kv = (method: 'GET' | 'PUT' | 'DELETE', ...query: string[]): Promise<CoapClientResponse> =>
      call(h, { method, path: ['kv', 'k'], query, ...(method === 'PUT' ? { payload: Buffer.from('v') } : {}) });
    for (const [method, query, pattern] of [
      ['PUT', 'leas=5', /unknown query argument 'leas'; expected client, seq, lease/],
      ['PUT', 'stale', /unknown query argument 'stale'/],
      ['DELETE', 'lease=1', /unknown query argument 'lease'; expected client, seq/],
      ['GET', 'seq=1', /unknown query argument 'seq'; expected stale/],
      ['GET', 'stale=false', /stale takes no value/],
    ] as const) {
      const response = await kv(method, query);
      assert.equal(formatCode(response.code), '4.00', `${method} ?${query}`);
      assert.match(text(response), pattern);
    }
    assert.equal(formatCode((await kv('GET')).code), '4.04', 'the refused PUTs wrote nothing');
    assert.equal(formatCode((await kv('PUT', 'client=c1', 'seq=1')).code), '2.01');
    assert.equal(text(await kv('GET', 'stale')), 'v');
    assert.equal(formatCode((await kv('DELETE', 'client=c1', 'seq=2')).code), '2.02');
  });

  it('sends a listing larger than a block through Block2', async () => {
    h = await virtualEndpointNode();
    for (let i = 0; i < 12; i += 1) await put(h, `big/${String(i).padStart(2, '0')}`, 'x'.repeat(4000));
    const response = await listing(h, 'prefix=big/', 'limit=1000');
    assert.equal(formatCode(response.code), '2.05');
    assert.ok(response.payload.byteLength > 48_000);
    const body = json(response) as { items: { key: string; value: string }[]; more: boolean };
    assert.equal(body.items.length, 12);
    assert.equal(body.more, false);
    assert.ok(body.items.every((i) => i.value.length === 4000));
  });
});
