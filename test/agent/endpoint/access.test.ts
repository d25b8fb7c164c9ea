// Proves that the local endpoint refuses an identity that may not use a resource (4.03) before
// it judges the request's body: an oversize Block1 upload from an identity without the
// key-value role is answered 4.03, not 4.13, at its first block, for PUT /kv/{key} (whose
// value limit is checked on every block) and POST /txn (bounded by bodyBytesMax), and an
// admin resource refuses the key-value identity the same way; the key-value identity still
// gets its 4.13.
import { strict as assert } from 'node:assert';
import { CoapOption, formatCode } from '../../../transport/coap/codes.js';
import { encodeBlock, option, uintOption } from '../../../transport/coap/options.js';
import { virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

/** The code of the answer to the first 1 KiB block of an upload announcing `size1` bytes, sent as `identity`. */
async function firstBlockAnswer(
  h: VirtualEndpointNode,
  identity: string,
  method: 'PUT' | 'POST',
  path: string,
  size1: number,
): Promise<string> {
  const wire = h.wire(identity);
  const token = Uint8Array.of(7);
  const options = [
    option(CoapOption.Block1, encodeBlock({ num: 0, more: true, szx: 6 })),
    uintOption(CoapOption.Size1, size1),
  ];
  await wire.send({ method, path, messageId: 1, token, options, payload: new Uint8Array(1024) });
  await h.run(10);
  return formatCode(wire.withToken(token).at(-1)?.code ?? 0);
}

describe('local endpoint: access before size', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  beforeEach(async () => {
    h = await virtualEndpointNode({}, {}, undefined, { kv: 'app', admin: 'operator' });
  });
  afterEach(async () => {
    await h.stop();
  });

  it('refuses an oversize upload from an identity without the key-value role with 4.03', async () => {
    assert.equal(await firstBlockAnswer(h, 'operator', 'PUT', '/kv/big', 64 * 1024 * 1024), '4.03');
    assert.equal(await firstBlockAnswer(h, 'operator', 'POST', '/txn', 64 * 1024 * 1024), '4.03');
    assert.equal(await firstBlockAnswer(h, 'stranger', 'PUT', '/kv/big', 64 * 1024 * 1024), '4.03');
  });

  it('refuses the key-value identity on an admin resource with 4.03 whatever its size', async () => {
    assert.equal(await firstBlockAnswer(h, 'app', 'POST', '/admin', 64 * 1024 * 1024), '4.03');
  });

  it('still refuses an oversize upload from the key-value identity with 4.13', async () => {
    assert.equal(await firstBlockAnswer(h, 'app', 'PUT', '/kv/big', 64 * 1024 * 1024), '4.13');
    assert.equal(await firstBlockAnswer(h, 'app', 'POST', '/txn', 64 * 1024 * 1024), '4.13');
  });
});
