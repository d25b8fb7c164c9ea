// Proves the local endpoint's write and upload limits on a one-node cluster with virtual time:
// - a value over valueBytesMax (the KV state machine's limit) is refused with 4.13, Size1 and
//   a diagnostic naming the limit, before it is proposed: the node's log does not grow; a
//   value of exactly valueBytesMax is written;
// - a write whose encoded command exceeds commandBytesMax is refused the same way;
// - Block1 uploads in blocks below block1BytesMin (16 bytes) are refused with 4.13 and a Block1
//   hint of 512 bytes, counted in the endpoint's metrics, while our own client's 1 KiB blocks
//   upload a 10 KiB value;
// - a Block1 or Q-Block1 upload to PUT /kv/{key} whose first block announces (Size1) a value over
//   valueBytesMax is refused at that block with 4.13 and Size1 = valueBytesMax, and nothing of it
//   is held (its next block finds no transfer); without Size1 it is refused at the block that
//   passes the limit; a POST /txn announcing more than bodyBytesMax is refused at its first block;
// - every bad option is reported by name with its limit.
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../../contracts/errors.js';
import { resolveLocalEndpointOptions } from '../../../agent/endpoint/local-endpoint.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapOption, formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import {
  decodeBlock,
  decodeUint,
  encodeBlock,
  firstOption,
  option,
  uintOption,
} from '../../../transport/coap/options.js';
import { virtualEndpointNode, type VirtualEndpointNode, type Wire } from './harness.js';

async function putValue(
  h: VirtualEndpointNode,
  key: string,
  value: Uint8Array,
  wholeBodyBytesMax = 1024,
): Promise<CoapClientResponse> {
  const client = new CoapClient(
    {
      openEndpoint: () => Promise.resolve(h.network.open('127.0.0.1')),
      timers: h.timers,
      prng: new SeededPrng(5),
    },
    { wholeBodyBytesMax },
  );
  const pending = client.request(h.address, { method: 'PUT', path: ['kv', key], payload: value }, 10_000);
  await h.run(1000);
  const response = await pending;
  await client.close();
  return response;
}

const lastLogIndex = (h: VirtualEndpointNode): number => h.node.getStatus().lastLogIndex;

/** Sends block `num` (1 KiB, more to come) of an upload with `blockOption`, optionally with Size1; its answer. */
async function sendBlock(
  h: VirtualEndpointNode,
  wire: Wire,
  path: string,
  blockOption: number,
  num: number,
  size1: number | null,
) {
  const options = [option(blockOption, encodeBlock({ num, more: true, szx: 6 }))];
  if (size1 !== null) options.push(uintOption(CoapOption.Size1, size1));
  const method = path === '/txn' ? 'POST' : 'PUT';
  const token = Uint8Array.of(blockOption, num & 0xff);
  await wire.send({ method, path, messageId: 100 + num, token, options, payload: new Uint8Array(1024) });
  await h.run(10);
  const answer = wire.withToken(token).at(-1);
  const size = firstOption(answer?.options ?? [], CoapOption.Size1);
  return { code: formatCode(answer?.code ?? 0), size1: size === null ? null : decodeUint(size, 4), answer };
}

describe('local endpoint: write and upload limits', function () {
  this.timeout(30_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('refuses a value over valueBytesMax with 4.13 before it is proposed', async () => {
    h = await virtualEndpointNode();
    const before = lastLogIndex(h);
    const response = await putValue(h, 'big', new Uint8Array(64 * 1024 + 1));
    assert.equal(formatCode(response.code), '4.13');
    await h.run(500);
    assert.equal(lastLogIndex(h), before, 'the log did not grow');
    assert.match(
      Buffer.from(response.payload).toString(),
      /value of 65537 bytes exceeds the key-value limit valueBytesMax \(65536 bytes\)/,
    );
    assert.equal(decodeUint(firstOption(response.options, CoapOption.Size1) ?? new Uint8Array(), 4), 65536);
    assert.equal(h.metrics.count('endpoint_limit_refusals_total', { limit: 'valueBytesMax' }), 1);
    const fits = await putValue(h, 'big', new Uint8Array(64 * 1024));
    assert.equal(formatCode(fits.code), '2.01');
    assert.equal(lastLogIndex(h), before + 1);
  });

  it('takes a value sent whole in one datagram, refuses one over a limit with 4.13 before proposing', async () => {
    h = await virtualEndpointNode({ valueBytesMax: 8192, bodyBytesMax: 16 * 1024 });
    const before = lastLogIndex(h);
    const requests = h.endpoint.server.stats.requests;
    const fits = await putValue(h, 'whole', new Uint8Array(4096).fill(7), 60_000);
    assert.equal(formatCode(fits.code), '2.01');
    assert.equal(h.endpoint.server.stats.requests - requests, 1, 'one request, no Block1 round trips');
    assert.equal(lastLogIndex(h), before + 1);
    const value = await putValue(h, 'whole', new Uint8Array(8193), 60_000);
    assert.equal(formatCode(value.code), '4.13');
    assert.match(Buffer.from(value.payload).toString(), /valueBytesMax \(8192 bytes\)/);
    const body = await putValue(h, 'whole', new Uint8Array(16 * 1024 + 1), 60_000);
    assert.equal(formatCode(body.code), '4.13');
    assert.equal(decodeUint(firstOption(body.options, CoapOption.Size1) ?? new Uint8Array(), 4), 16 * 1024);
    assert.equal(h.endpoint.server.stats.limitRefusals['bodyBytesMax'], 1, 'the CoAP layer counted its bound');
    await h.run(500);
    assert.equal(lastLogIndex(h), before + 1, 'nothing over a limit was proposed');
  });

  it('refuses a write whose command exceeds commandBytesMax before it is proposed', async () => {
    h = await virtualEndpointNode({ commandBytesMax: 2048 });
    const before = lastLogIndex(h);
    const response = await putValue(h, 'k', new Uint8Array(3000));
    assert.equal(formatCode(response.code), '4.13');
    assert.match(Buffer.from(response.payload).toString(), /exceeds commandBytesMax \(2048 bytes\)/);
    await h.run(500);
    assert.equal(lastLogIndex(h), before);
    assert.equal(h.metrics.count('endpoint_limit_refusals_total', { limit: 'commandBytesMax' }), 1);
  });

  it('refuses Block1 uploads in 16-byte blocks with a 512-byte hint, and takes 1 KiB blocks', async () => {
    h = await virtualEndpointNode();
    const wire = h.wire();
    await wire.send({
      method: 'PUT',
      path: '/kv/tiny',
      messageId: 1,
      token: Uint8Array.from([1]),
      options: [option(CoapOption.Block1, encodeBlock({ num: 0, more: true, szx: 0 }))],
      payload: new Uint8Array(16),
    });
    await h.run(10);
    const refusal = wire.received[0];
    assert.equal(formatCode(refusal?.code ?? 0), '4.13');
    assert.deepEqual(decodeBlock(firstOption(refusal?.options ?? [], CoapOption.Block1) ?? new Uint8Array()), {
      num: 0,
      more: false,
      szx: 5,
    });
    assert.equal(h.endpoint.server.blockStats().block1Transfers, 0);
    assert.equal(h.metrics.count('coap_limit_refusals_total', { server: 'endpoint', limit: 'block1BytesMin' }), 1);
    const upload = await putValue(h, 'tiny', new Uint8Array(10 * 1024).fill(7));
    assert.equal(formatCode(upload.code), '2.01');
  });

  for (const [name, blockOption] of [
    ['Block1', CoapOption.Block1],
    ['Q-Block1', CoapOption.QBlock1],
  ] as const) {
    it(`refuses a ${name} upload whose Size1 is over valueBytesMax at its first block`, async () => {
      h = await virtualEndpointNode();
      const wire = h.wire();
      const first = await sendBlock(h, wire, '/kv/big', blockOption, 0, 100_000);
      assert.equal(first.code, '4.13');
      assert.equal(first.size1, 65_536);
      assert.match(Buffer.from(first.answer?.payload ?? []).toString(), /100000 bytes .*valueBytesMax \(65536 bytes\)/);
      assert.equal(h.endpoint.server.blockStats().block1Transfers, 0, 'nothing held');
      assert.equal(h.metrics.count('endpoint_limit_refusals_total', { limit: 'valueBytesMax' }), 1);
      const second = await sendBlock(h, wire, '/kv/big', blockOption, 1, 100_000);
      assert.equal(second.code, '4.13', 'a later block is refused too');
      assert.equal(h.endpoint.server.blockStats().block1Transfers, 0);
    });
  }

  it('refuses a Block1 upload without Size1 at the block that passes valueBytesMax', async () => {
    h = await virtualEndpointNode();
    const wire = h.wire();
    for (let num = 0; num < 64; num += 1)
      assert.equal((await sendBlock(h, wire, '/kv/big', CoapOption.Block1, num, null)).code, '2.31');
    const over = await sendBlock(h, wire, '/kv/big', CoapOption.Block1, 64, null);
    assert.equal(over.code, '4.13');
    assert.equal(over.size1, 65_536);
    assert.equal(h.endpoint.server.blockStats().block1Transfers, 0, 'the transfer is forgotten');
  });

  it('refuses a Block1 POST /txn whose Size1 is over bodyBytesMax at its first block', async () => {
    h = await virtualEndpointNode({ bodyBytesMax: 16 * 1024 });
    const first = await sendBlock(h, h.wire(), '/txn', CoapOption.Block1, 0, 16 * 1024 + 1);
    assert.equal(first.code, '4.13');
    assert.equal(first.size1, 16 * 1024);
    assert.equal(h.endpoint.server.blockStats().block1Transfers, 0);
  });

  it('names every bad option with its limit', () => {
    let problems: readonly string[] = [];
    try {
      resolveLocalEndpointOptions({
        observersMax: 10,
        observersPerPeerMax: 11,
        block1BytesMin: 100,
        blockBytesTotalMax: 1024,
        observeConfirmableEvery: 0,
      });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      problems = error.problems;
    }
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
      'endpoint.block1BytesMin',
      'endpoint.blockBytesTotalMax',
      'endpoint.observeConfirmableEvery',
      'endpoint.observersPerPeerMax',
    ]);
    assert.ok(
      problems.some((p) => p.includes('expected an integer from 1 to 10, got 11')),
      problems.join('; '),
    );
    resolveLocalEndpointOptions();
  });
});
