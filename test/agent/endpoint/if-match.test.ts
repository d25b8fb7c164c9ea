// Proves a PUT's If-Match on the local endpoint (RFC 7252 §5.10.8.1), on a one-node cluster with
// virtual time and our own CoAP client:
// - an empty If-Match writes only a key that exists: 4.12 and nothing written on an absent key,
//   2.04 with the new revision as ETag on a present one; an empty value among ETags means the same;
// - several ETags write when any of them is the key's revision, else 4.12 with the current ETag;
// - each is one log entry (the compare and the put are one proposal), and a retry of a
//   `?client=&seq=` write is answered from its session as the first time, even after the key
//   changed (and nothing is written again);
// - an ETag that is no revision (past 2^53) is 4.00, unless an empty value is among them.
// A DELETE's If-Match is the same condition: 2.02 when it holds (the key deleted, in one log entry), else
// 4.12 with the current ETag (or "the key is absent") and the key kept; exactly once with `?client=&seq=`.
import { strict as assert } from 'node:assert';
import { CoapOption, formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { revisionEtag } from '../../../agent/endpoint/responses.js';
import { callEndpoint, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const etagOf = (r: CoapClientResponse): number => Number(Buffer.from(r.etag ?? []).readBigUInt64BE());
const ifMatch = (value: Uint8Array): { number: number; value: Uint8Array } => ({ number: CoapOption.IfMatch, value });
const EMPTY = new Uint8Array(0);

describe('local endpoint: If-Match on PUT', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  beforeEach(async () => {
    h = await virtualEndpointNode();
  });
  afterEach(async () => {
    await h.stop();
  });

  const put = (key: string, value: string, etags: Uint8Array[], query: string[] = []): Promise<CoapClientResponse> =>
    callEndpoint(h, {
      method: 'PUT',
      path: ['kv', key],
      query,
      payload: Buffer.from(value),
      options: etags.map(ifMatch),
    });
  const get = (key: string): Promise<CoapClientResponse> => callEndpoint(h, { method: 'GET', path: ['kv', key] });
  const lastLogIndex = (): number => h.node.getStatus().lastLogIndex;

  it('writes with an empty If-Match only a key that exists, in one log entry', async () => {
    const before = lastLogIndex();
    const absent = await put('e', 'one', [EMPTY]);
    assert.equal(formatCode(absent.code), '4.12');
    assert.match(text(absent), /the key is absent/);
    assert.equal(formatCode((await get('e')).code), '4.04', 'nothing was written');
    assert.equal(lastLogIndex(), before + 1, 'one proposal');
    const created = await put('e', 'one', []);
    const changed = await put('e', 'two', [EMPTY]);
    assert.equal(formatCode(changed.code), '2.04', text(changed));
    assert.ok(etagOf(changed) > etagOf(created));
    assert.equal(etagOf(changed), lastLogIndex());
    assert.equal(text(await get('e')), 'two');
    const mixed = await put('e', 'three', [revisionEtag(1), EMPTY]);
    assert.equal(formatCode(mixed.code), '2.04', 'an empty value among ETags: the key exists');
  });

  it('writes with several ETags when any of them is the revision of the key', async () => {
    const revision = etagOf(await put('s', 'one', []));
    const before = lastLogIndex();
    const matched = await put('s', 'two', [revisionEtag(revision + 50), revisionEtag(revision)]);
    assert.equal(formatCode(matched.code), '2.04', text(matched));
    assert.equal(lastLogIndex(), before + 1, 'one proposal');
    const now = etagOf(matched);
    const missed = await put('s', 'three', [revisionEtag(revision), revisionEtag(now + 50)]);
    assert.equal(formatCode(missed.code), '4.12');
    assert.equal(etagOf(missed), now, 'the current ETag');
    assert.equal(text(await get('s')), 'two');
    assert.equal(formatCode((await put('none', 'x', [revisionEtag(1), revisionEtag(2)])).code), '4.12');
    assert.equal(formatCode((await get('none')).code), '4.04');
  });

  it('answers a retry of a session write as the first time', async () => {
    await put('r', 'one', []);
    const first = await put('r', 'two', [EMPTY], ['client=c1', 'seq=1']);
    assert.equal(formatCode(first.code), '2.04');
    await callEndpoint(h, { method: 'DELETE', path: ['kv', 'r'] });
    const retry = await put('r', 'two', [EMPTY], ['client=c1', 'seq=1']);
    assert.equal(formatCode(retry.code), '2.04', 'answered from the session');
    assert.equal(etagOf(retry), etagOf(first));
    assert.equal(formatCode((await get('r')).code), '4.04', 'not written again');

    const revision = etagOf(await put('m', 'one', []));
    const chosen = await put('m', 'two', [revisionEtag(revision + 90), revisionEtag(revision)], ['client=c1', 'seq=2']);
    assert.equal(formatCode(chosen.code), '2.04');
    const again = await put('m', 'two', [revisionEtag(revision + 90), revisionEtag(revision)], ['client=c1', 'seq=2']);
    assert.equal(formatCode(again.code), '2.04', 'the key is past both ETags, the session still answers');
    assert.equal(etagOf(again), etagOf(chosen));
  });

  it('refuses an ETag that names no revision', async () => {
    await put('b', 'one', []);
    const huge = new Uint8Array(8).fill(0xff);
    const refused = await put('b', 'two', [huge, EMPTY]);
    assert.equal(formatCode(refused.code), '2.04', 'an empty value decides');
    const bad = await put('b', 'two', [huge, revisionEtag(1)]);
    assert.equal(formatCode(bad.code), '4.00');
    assert.match(text(bad), /If-Match carries revision ETags/);
  });
});

describe('local endpoint: If-Match on DELETE', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  beforeEach(async () => {
    h = await virtualEndpointNode();
  });
  afterEach(async () => {
    await h.stop();
  });

  const put = (key: string, value: string): Promise<CoapClientResponse> =>
    callEndpoint(h, { method: 'PUT', path: ['kv', key], payload: Buffer.from(value) });
  const del = (key: string, etags: Uint8Array[], query: string[] = []): Promise<CoapClientResponse> =>
    callEndpoint(h, { method: 'DELETE', path: ['kv', key], query, options: etags.map(ifMatch) });
  const get = (key: string): Promise<CoapClientResponse> => callEndpoint(h, { method: 'GET', path: ['kv', key] });
  const lastLogIndex = (): number => h.node.getStatus().lastLogIndex;

  it('deletes with one ETag only at that revision, compared and deleted in one log entry', async () => {
    const revision = etagOf(await put('d', 'one'));
    const before = lastLogIndex();
    const stale = await del('d', [revisionEtag(revision - 1)]);
    assert.equal(formatCode(stale.code), '4.12', text(stale));
    assert.match(text(stale), new RegExp(`the key is at revision ${revision}$`));
    assert.equal(etagOf(stale), revision, 'the current ETag');
    assert.equal(text(await get('d')), 'one', 'not deleted');
    assert.equal(lastLogIndex(), before + 1, 'one proposal');
    const deleted = await del('d', [revisionEtag(revision)]);
    assert.equal(formatCode(deleted.code), '2.02', text(deleted));
    assert.deepEqual(JSON.parse(text(deleted)), {
      revision: lastLogIndex(),
      deleted: true,
      storeRevision: lastLogIndex(),
    });
    assert.equal(lastLogIndex(), before + 2, 'one proposal');
    assert.equal(formatCode((await get('d')).code), '4.04');
    const gone = await del('d', [revisionEtag(revision)]);
    assert.equal(formatCode(gone.code), '4.12');
    assert.match(text(gone), /the key is absent/);
  });

  it('deletes with an empty If-Match only a key that exists, and with several ETags at any of them', async () => {
    const absent = await del('e', [EMPTY]);
    assert.equal(formatCode(absent.code), '4.12');
    assert.match(text(absent), /the key is absent/);
    const revision = etagOf(await put('e', 'one'));
    assert.equal(formatCode((await del('e', [revisionEtag(revision + 7), EMPTY])).code), '2.02');
    assert.equal(formatCode((await get('e')).code), '4.04');

    const now = etagOf(await put('s', 'one'));
    const missed = await del('s', [revisionEtag(now - 1), revisionEtag(now + 50)]);
    assert.equal(formatCode(missed.code), '4.12');
    assert.equal(etagOf(missed), now);
    const before = lastLogIndex();
    assert.equal(formatCode((await del('s', [revisionEtag(now + 50), revisionEtag(now)])).code), '2.02');
    assert.equal(lastLogIndex(), before + 1, 'one proposal');
    assert.equal(formatCode((await get('s')).code), '4.04');
    const bad = await del('s', [new Uint8Array(8).fill(0xff)]);
    assert.equal(formatCode(bad.code), '4.00');
    assert.match(text(bad), /If-Match carries revision ETags/);
  });

  it('answers a retry of a session delete as the first time, deleting nothing again', async () => {
    const revision = etagOf(await put('r', 'one'));
    const first = await del('r', [revisionEtag(revision)], ['client=c1', 'seq=1']);
    assert.equal(formatCode(first.code), '2.02');
    await put('r', 'two');
    const retry = await del('r', [revisionEtag(revision)], ['client=c1', 'seq=1']);
    assert.equal(formatCode(retry.code), '2.02', 'answered from the session');
    assert.equal(text(retry), text(first));
    assert.equal(text(await get('r')), 'two', 'not deleted again');
    const chosen = etagOf(await put('m', 'one'));
    const etags = [revisionEtag(chosen + 90), revisionEtag(chosen)];
    assert.equal(formatCode((await del('m', etags, ['client=c1', 'seq=2'])).code), '2.02');
    await put('m', 'two');
    assert.equal(formatCode((await del('m', etags, ['client=c1', 'seq=2'])).code), '2.02');
    assert.equal(text(await get('m')), 'two');
  });
});
