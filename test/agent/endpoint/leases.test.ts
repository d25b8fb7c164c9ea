// Proves the lease resources of the local endpoint (one-node cluster on virtual time, our own
// CoAP client, the lease countdown running as in the agent):
// - POST /lease grants ({"id","ttlMs","revision"}, 2.01), PUT /kv/K?lease=L and a transaction's
//   put with "lease" attach keys, GET /lease/L shows the TTL left and the keys, keepalive answers
//   2.04, DELETE /lease/L deletes the keys at one log index (2.02 with deletedKeys);
// - attaching to an unknown or revoked lease, keeping it alive or revoking it again is 4.04
//   KV_LEASE_NOT_FOUND; a TTL out of bounds or a bad body or id is 4.00; Accept 60 answers CBOR;
// - a lease kept alive outlives its TTL; left alone, it expires within TTL + 1 s, and its keys
//   vanish at one revision, which a watch from before sees as deletes;
// - a grant or revoke with ?client=ID&seq=N runs once however often it is sent (the retry gets the
//   first answer), and an argument a lease resource does not take is 4.00, not ignored;
// - an answer of unknown outcome (5.04) names the keepalive, grant or revoke, not "the write".
import { strict as assert } from 'node:assert';
import { Decoder } from 'cbor-x';
import { SeededPrng } from '../../../contracts/prng.js';
import { TimeoutError } from '../../../contracts/errors.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientRequest, CoapClientResponse } from '../../../transport/coap/index.js';
import { virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const json = (r: CoapClientResponse): Record<string, unknown> => JSON.parse(text(r)) as Record<string, unknown>;

/** Sends one request and runs virtual time in small steps until it is answered. */
async function call(h: VirtualEndpointNode, request: CoapClientRequest): Promise<CoapClientResponse> {
  const client = new CoapClient({
    openEndpoint: () => Promise.resolve(h.network.open('127.0.0.1')),
    timers: h.timers,
    prng: new SeededPrng(5),
  });
  let response: CoapClientResponse | null = null;
  const pending = client.request(h.address, request, 10_000).then((r) => (response = r));
  while (response === null) await h.run(5);
  await pending;
  await client.close();
  return response;
}

const grant = (h: VirtualEndpointNode, body: unknown, extra: Partial<CoapClientRequest> = {}) =>
  call(h, { method: 'POST', path: ['lease'], payload: Buffer.from(JSON.stringify(body)), contentFormat: 50, ...extra });
const leaseCall = (h: VirtualEndpointNode, method: 'GET' | 'POST' | 'DELETE', ...path: string[]) =>
  call(h, { method, path: ['lease', ...path] });
const put = (h: VirtualEndpointNode, key: string, value: string, query: string[] = []) =>
  call(h, { method: 'PUT', path: ['kv', ...key.split('/')], query, payload: Buffer.from(value) });
const get = (h: VirtualEndpointNode, key: string) => call(h, { method: 'GET', path: ['kv', ...key.split('/')] });

describe('local endpoint: leases', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('grants, attaches, shows, keeps alive and revokes', async () => {
    h = await virtualEndpointNode();
    const granted = await grant(h, { ttlMs: 5000 });
    assert.equal(formatCode(granted.code), '2.01', text(granted));
    const { id, ttlMs, revision } = json(granted);
    assert.equal(ttlMs, 5000);
    assert.equal(typeof id, 'number');
    assert.equal(revision, id, 'a grant raises the store revision to its index');
    const lease = String(id);
    assert.equal(formatCode((await put(h, 'a', '1', [`lease=${lease}`])).code), '2.01');
    const txn = await call(h, {
      method: 'POST',
      path: ['txn'],
      contentFormat: 50,
      payload: Buffer.from(JSON.stringify({ success: [{ op: 'put', key: 'b', value: '2', lease: id }] })),
    });
    assert.equal(formatCode(txn.code), '2.04', text(txn));
    await put(h, 'c', 'free');
    const shown = await leaseCall(h, 'GET', lease);
    assert.equal(formatCode(shown.code), '2.05', text(shown));
    const document = json(shown);
    assert.deepEqual(document['keys'], ['a', 'b']);
    assert.ok(Number(document['remainingMs']) > 0 && Number(document['remainingMs']) <= 5000);
    const kept = await leaseCall(h, 'POST', lease, 'keepalive');
    assert.equal(formatCode(kept.code), '2.04', text(kept));
    assert.deepEqual(json(kept), { id, ttlMs: 5000 });
    const before = h.node.getStatus().lastLogIndex;
    const revoked = await leaseCall(h, 'DELETE', lease);
    assert.equal(formatCode(revoked.code), '2.02', text(revoked));
    assert.deepEqual(json(revoked), { id, deletedKeys: 2, revision: before + 1 });
    assert.equal(h.node.getStatus().lastLogIndex, before + 1, 'the revoke and its deletes are one log entry');
    assert.equal(formatCode((await get(h, 'a')).code), '4.04');
    assert.equal(formatCode((await get(h, 'b')).code), '4.04');
    assert.equal(formatCode((await get(h, 'c')).code), '2.05', 'a key without the lease stays');
    for (const [method, ...path] of [
      ['GET', lease],
      ['POST', lease, 'keepalive'],
      ['DELETE', lease],
    ] as const) {
      const response = await leaseCall(h, method, ...path);
      assert.equal(formatCode(response.code), '4.04', `${method} ${path.join('/')}`);
      assert.match(text(response), /KV_LEASE_NOT_FOUND/);
    }
    const late = await put(h, 'a', '1', [`lease=${lease}`]);
    assert.equal(formatCode(late.code), '4.04');
    assert.match(text(late), /lease \d+ is not granted/);
  });

  it('refuses bad requests with a diagnostic, and answers CBOR for Accept 60', async () => {
    h = await virtualEndpointNode();
    for (const [response, code, pattern] of [
      [await grant(h, { ttlMs: 10 }), '4.00', /KV_LEASE_TTL: ttlMs 10 is outside leaseTtlMsMin 1000/],
      [await grant(h, { ttl: 5000 }), '4.00', /"ttlMs":T/],
      [await grant(h, 'nope'), '4.00', /"ttlMs":T/],
      [await put(h, 'k', 'v', ['lease=999']), '4.04', /KV_LEASE_NOT_FOUND/],
      [await put(h, 'k', 'v', ['lease=abc']), '4.00', /lease must be an integer/],
      [await leaseCall(h, 'GET', 'x'), '4.00', /lease id must be an integer/],
      [await leaseCall(h, 'POST', '5', 'other'), '4.05', /keepalive/],
    ] as const) {
      assert.equal(formatCode(response.code), code, text(response));
      assert.match(text(response), pattern);
    }
    const cbor = await grant(h, { ttlMs: 2000 }, { accept: 60 });
    assert.equal(formatCode(cbor.code), '2.01');
    assert.equal(cbor.contentFormat, 60);
    const decoded: unknown = new Decoder({ mapsAsObjects: true, useRecords: false }).decode(cbor.payload);
    assert.deepEqual(Object.keys(decoded as object), ['id', 'ttlMs', 'revision']);
  });

  it('runs a grant or revoke of a client session once, and refuses unknown query arguments', async () => {
    h = await virtualEndpointNode();
    const first = await grant(h, { ttlMs: 5000 }, { query: ['client=app', 'seq=1'] });
    assert.equal(formatCode(first.code), '2.01', text(first));
    const again = await grant(h, { ttlMs: 5000 }, { query: ['client=app', 'seq=1'] });
    assert.deepEqual(json(again), json(first), 'the retry gets the first grant, not a second lease');
    const lease = String(json(first)['id']);
    const revoke = (): Promise<CoapClientResponse> =>
      call(h, { method: 'DELETE', path: ['lease', lease], query: ['client=app', 'seq=2'] });
    const revoked = await revoke();
    assert.equal(formatCode(revoked.code), '2.02', text(revoked));
    const revokedAgain = await revoke();
    assert.equal(formatCode(revokedAgain.code), '2.02', `the retry gets the first answer: ${text(revokedAgain)}`);
    assert.deepEqual(json(revokedAgain), json(revoked));
    const stale = await grant(h, { ttlMs: 5000 }, { query: ['client=app', 'seq=1'] });
    assert.match(text(stale), /KV_STALE_SEQUENCE/);
    const indexAfter = h.node.getStatus().lastLogIndex;
    for (const [response, pattern] of [
      [await grant(h, { ttlMs: 5000 }, { query: ['client=app'] }), /client and seq go together/],
      [await grant(h, { ttlMs: 5000 }, { query: ['ttl=5'] }), /unknown query argument 'ttl'; expected client, seq/],
      [await call(h, { method: 'POST', path: ['lease', lease, 'keepalive'], query: ['seq=3'] }), /expected none/],
      [await call(h, { method: 'GET', path: ['lease', lease], query: ['stale'] }), /unknown query argument 'stale'/],
    ] as const) {
      assert.equal(formatCode(response.code), '4.00', text(response));
      assert.match(text(response), pattern);
    }
    assert.equal(h.node.getStatus().lastLogIndex, indexAfter, 'nothing was proposed');
  });

  it('keeps a lease alive past its TTL and expires it within TTL + 1 s once left alone', async () => {
    h = await virtualEndpointNode();
    const { id, revision } = json(await grant(h, { ttlMs: 2000 }));
    await put(h, 'presence/a', 'here', [`lease=${String(id)}`]);
    await put(h, 'presence/b', 'here', [`lease=${String(id)}`]);
    const since = Number(revision);
    for (let i = 0; i < 6; i += 1) {
      await h.run(700);
      assert.equal(formatCode((await leaseCall(h, 'POST', String(id), 'keepalive')).code), '2.04');
    }
    assert.equal(formatCode((await get(h, 'presence/a')).code), '2.05', 'kept alive for 4 s, twice its TTL');
    const leftAt = h.timers.nowMs();
    while (formatCode((await get(h, 'presence/a')).code) === '2.05' && h.timers.nowMs() - leftAt < 5000)
      await h.run(20);
    const tookMs = h.timers.nowMs() - leftAt;
    assert.ok(tookMs >= 2000, `expired after ${tookMs} ms, not before its TTL`);
    assert.ok(tookMs <= 3000, `expired after ${tookMs} ms, within TTL + 1 s`);
    assert.equal(formatCode((await get(h, 'presence/b')).code), '4.04');
    const watch = await call(h, { method: 'GET', path: ['watch'], query: ['prefix=presence/', `since=${since}`] });
    const events = (json(watch)['events'] as { type: string; key: string; revision: number }[]).filter(
      (e) => e.type === 'delete',
    );
    assert.deepEqual(
      events.map((e) => e.key),
      ['presence/a', 'presence/b'],
    );
    assert.equal(events[0]?.revision, events[1]?.revision, 'both keys vanished at one revision');
    assert.equal(h.metrics.count('kv_lease_expiries_proposed_total', {}), 1);
  });

  it('names the keepalive, the grant and the revoke in an answer of unknown outcome', async () => {
    h = await virtualEndpointNode();
    const id = Number(json(await grant(h, { ttlMs: 5000 }))['id']);
    // The forward to the leader fails as forwarding.ts reports it, naming what the endpoint says it sends.
    h.node.submitAnywhere = (_command, _timeoutMs, _retryUnknown, what = 'the write') =>
      Promise.reject(
        new TimeoutError(`forwarding ${what} to n2 failed (no response); it may or may not have been applied`),
      );
    const kept = await leaseCall(h, 'POST', String(id), 'keepalive');
    assert.equal(formatCode(kept.code), '5.04');
    assert.match(text(kept), new RegExp(`^forwarding the keepalive of lease ${id} to n2 failed`));
    assert.doesNotMatch(text(kept), /the write/);
    const granted = await grant(h, { ttlMs: 5000 });
    assert.match(text(granted), /^forwarding the lease grant to n2 failed/);
    assert.doesNotMatch(text(granted), /the write/);
    const revoked = await leaseCall(h, 'DELETE', String(id));
    assert.match(text(revoked), new RegExp(`^forwarding the revoke of lease ${id} to n2 failed`));
  });
});
