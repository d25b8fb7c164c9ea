// Proves that the local endpoint refuses a key longer than keyBytesMax (UTF-8 bytes) before it
// is proposed, with the 4.00 KV_KEY_TOO_LONG answer the store gives once a command is applied:
// PUT and DELETE /kv/{key}, and a /txn with such a key in a compare or an operation of either
// branch (also the one that would not run: no such key can exist), leave the node's log as it
// was. A key of exactly keyBytesMax bytes (counted in UTF-8, not characters) is written.
// One-node cluster, virtual time, our own CoAP client; the key goes as several Uri-Path options
// (each at most 255 bytes), which the endpoint joins with '/'. A key sent as one Uri-Path option
// holding '/' (a client that percent-encodes the key: /kv/a%2Fb) is the same key, and a reserved one
// is refused alike.
import { strict as assert } from 'node:assert';
import { formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { callEndpoint as call, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const KEY_BYTES_MAX = 300;
const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const lastIndex = (h: VirtualEndpointNode): number => h.node.getStatus().lastLogIndex;
const TOO_LONG = /^KV_KEY_TOO_LONG: key is 301 bytes; keyBytesMax is 300$/;

/** The Uri-Path of /kv/{key}: `key` split at '/', which the endpoint joins again. */
const kvPath = (key: string): string[] => ['kv', ...key.split('/')];

describe('local endpoint: keys over keyBytesMax are refused before they are proposed', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('PUT and DELETE /kv/{key} answer 4.00 KV_KEY_TOO_LONG and the log does not grow', async () => {
    h = await virtualEndpointNode({ keyBytesMax: KEY_BYTES_MAX }, { keyBytesMax: KEY_BYTES_MAX });
    // 150 + 1 + 148 one-byte characters and one two-byte character: 301 bytes, 300 characters.
    const long = `${'a'.repeat(150)}/${'b'.repeat(148)}é`;
    const before = lastIndex(h);
    const put = await call(h, { method: 'PUT', path: kvPath(long), payload: Buffer.from('v') });
    assert.equal(formatCode(put.code), '4.00', text(put));
    assert.match(text(put), TOO_LONG);
    const removed = await call(h, { method: 'DELETE', path: kvPath(long) });
    assert.equal(formatCode(removed.code), '4.00', text(removed));
    assert.match(text(removed), TOO_LONG);
    await h.run(500);
    assert.equal(lastIndex(h), before, 'nothing was proposed');

    const fits = `${'a'.repeat(150)}/${'b'.repeat(147)}é`;
    const written = await call(h, { method: 'PUT', path: kvPath(fits), payload: Buffer.from('v') });
    assert.equal(formatCode(written.code), '2.01', text(written));
    assert.equal(lastIndex(h), before + 1);
  });

  it('/txn with an over-long key in a compare or an operation answers 4.00 and the log does not grow', async () => {
    h = await virtualEndpointNode({ keyBytesMax: KEY_BYTES_MAX }, { keyBytesMax: KEY_BYTES_MAX });
    const long = 'k'.repeat(KEY_BYTES_MAX + 1);
    const bodies = [
      { compare: [{ key: long, absent: true }], success: [{ op: 'put', key: 'a', value: 'x' }], failure: [] },
      { compare: [], success: [{ op: 'put', key: long, value: 'x' }], failure: [] },
      { compare: [], success: [], failure: [{ op: 'delete', key: long }] },
    ];
    const before = lastIndex(h);
    for (const body of bodies) {
      const response = await call(h, {
        method: 'POST',
        path: ['txn'],
        payload: Buffer.from(JSON.stringify(body)),
        contentFormat: 50,
      });
      assert.equal(formatCode(response.code), '4.00', text(response));
      assert.match(text(response), TOO_LONG);
    }
    await h.run(500);
    assert.equal(lastIndex(h), before, 'nothing was proposed');
  });

  it('takes a key sent as one segment holding "/" as the same key', async () => {
    h = await virtualEndpointNode();
    const written = await call(h, { method: 'PUT', path: ['kv', 'site/gw1'], payload: Buffer.from('up') });
    assert.equal(formatCode(written.code), '2.01', text(written));
    const read = await call(h, { method: 'GET', path: kvPath('site/gw1') });
    assert.equal(formatCode(read.code), '2.05', text(read));
    assert.equal(text(read), 'up');
    const reserved = await call(h, { method: 'PUT', path: ['kv', '.coraft/trust'], payload: Buffer.from('x') });
    assert.equal(formatCode(reserved.code), '4.03', text(reserved));
  });
});
