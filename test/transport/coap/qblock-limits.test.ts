// Proves the server's Q-Block1 reassembly (RFC 9177 §4) against hostile and lossy input, byte
// by byte from a raw endpoint on the in-memory network with virtual time: a set's last block
// gets 2.31 when the set is whole and 4.08 listing exactly the missing blocks (a CBOR sequence,
// Content-Format 272) when not, and other non-confirmable blocks get no answer; blocks may come
// in any order; holes never filled hold only the transfer's own buffer and are swept by the
// timer; a block beyond the announced Size1 ends the transfer with 4.13; a flood of sets under
// new Request-Tags meets blockTransfersPerPeerMax and blockBytesTotalMax (5.03, counted, memory
// bounded); blocks under block1BytesMin get 4.13 with a Q-Block1 hint; Block1 with Q-Block1 is
// 4.02.
import { strict as assert } from 'node:assert';
import { CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import {
  decodeBlock,
  decodeUint,
  encodeBlock,
  firstOption,
  option,
  uintOption,
} from '../../../transport/coap/options.js';
import { decodeMissingBlocks, encodeMissingBlocks } from '../../../transport/coap/qblock-store.js';
import { request, serverHarness, text } from './harness.js';

const upload = {
  POST: (r: { payload: Uint8Array }) =>
    Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(String(r.payload.length)) }),
};

let nextMessageId = 1;

/** Q-Block1 block `num` of a body of `size1` bytes in 1 KiB blocks, under Request-Tag `tag`. */
function qblock(num: number, size1: number, tag: number, type: number = CoapType.NON) {
  const more = (num + 1) * 1024 < size1;
  const length = more ? 1024 : size1 - num * 1024;
  return request({
    type: type === CoapType.CON ? CoapType.CON : CoapType.NON,
    messageId: nextMessageId++,
    token: Uint8Array.from([tag, num]),
    options: [
      option(CoapOption.QBlock1, encodeBlock({ num, more, szx: 6 })),
      uintOption(CoapOption.Size1, size1),
      option(CoapOption.RequestTag, Uint8Array.from([tag])),
    ],
    payload: new Uint8Array(Math.max(0, length)).fill(num),
  });
}

async function harness(options = {}) {
  const h = await serverHarness(options);
  h.server.addResource('/raft/AppendEntries', upload);
  return h;
}

describe('CoAP server Q-Block1 reassembly', () => {
  it('answers a whole set with 2.31, a set with holes with 4.08 listing them; the body comes out whole', async () => {
    const h = await harness();
    for (const num of [0, 1, 2, 4, 5, 7, 8]) await h.send(qblock(num, 15_000, 1));
    assert.equal(h.received.length, 0, 'blocks within a set get no answer');
    await h.send(qblock(9, 15_000, 1, CoapType.CON));
    const incomplete = h.received.at(-1);
    assert.equal(formatCode(incomplete?.code ?? 0), '4.08');
    assert.equal(incomplete?.type, CoapType.ACK);
    assert.equal(
      decodeUint(firstOption(incomplete?.options ?? [], CoapOption.ContentFormat) ?? new Uint8Array(), 2),
      272,
    );
    assert.deepEqual(decodeMissingBlocks(incomplete?.payload ?? new Uint8Array(), 64), [3, 6]);
    // Out of order, and a duplicate: nothing changes but the holes.
    await h.send(qblock(6, 15_000, 1));
    await h.send(qblock(6, 15_000, 1));
    await h.send(qblock(3, 15_000, 1, CoapType.CON));
    const cont = h.received.at(-1);
    assert.equal(formatCode(cont?.code ?? 0), '2.31');
    assert.deepEqual(decodeBlock(firstOption(cont?.options ?? [], CoapOption.QBlock1) ?? new Uint8Array()), {
      num: 9,
      more: true,
      szx: 6,
    });
    for (const num of [14, 10, 11, 12]) await h.send(qblock(num, 15_000, 1));
    await h.send(qblock(13, 15_000, 1, CoapType.CON));
    const done = h.received.at(-1);
    assert.equal(formatCode(done?.code ?? 0), '2.04');
    assert.equal(text(done?.payload ?? new Uint8Array()), '15000');
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });

  it('a non-confirmable set end is answered non-confirmable, and other blocks not at all', async () => {
    const h = await harness();
    for (let num = 0; num < 10; num += 1) await h.send(qblock(num, 30_000, 2));
    assert.deepEqual(
      h.received.map((m) => `${m.type}:${formatCode(m.code)}`),
      [`${CoapType.NON}:2.31`],
    );
  });

  it('holds only its own buffer for holes never filled, and the timer sweeps it', async () => {
    const h = await harness({ blockTransferLifetimeMs: 1_000 });
    for (const num of [0, 2, 4]) await h.send(qblock(num, 64 * 1024, 3));
    const stats = h.server.blockStats();
    assert.equal(stats.block1Transfers, 1);
    assert.equal(stats.block1HeldBytes, 64 * 1024, "the announced body's buffer, nothing more");
    assert.equal(stats.block1BufferBytes, stats.block1HeldBytes);
    await h.timers.advance(1_300);
    assert.equal(h.server.blockStats().block1Transfers, 0);
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });

  it('keeps no block beyond the 64-block window past a hole; a 4.08 asks for it again; body intact', async () => {
    const h = await serverHarness();
    let body: Uint8Array = new Uint8Array(0);
    h.server.addResource('/raft/AppendEntries', {
      POST: (r) => {
        body = r.payload;
        return Promise.resolve({ code: CoapResponseCode.Changed });
      },
    });
    const size = 80 * 1024;
    for (let num = 1; num < 80; num += 1) await h.send(qblock(num, size, 6));
    const incomplete = h.received.at(-1);
    assert.equal(formatCode(incomplete?.code ?? 0), '4.08', 'the last block is answered');
    const beyond = Array.from({ length: 16 }, (_, i) => 64 + i);
    assert.deepEqual(decodeMissingBlocks(incomplete?.payload ?? new Uint8Array(), 64), [0, ...beyond]);
    await h.send(qblock(0, size, 6));
    for (const num of beyond) await h.send(qblock(num, size, 6, num === 79 ? CoapType.CON : CoapType.NON));
    assert.equal(formatCode(h.received.at(-1)?.code ?? 0), '2.04');
    assert.equal(body.length, size);
    for (let num = 0; num < 80; num += 1) assert.equal(body[num * 1024], num, `block ${num}`);
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });

  it('ends a transfer with 4.13 for a block beyond the announced Size1, and 4.00 past the body end', async () => {
    const h = await harness();
    await h.send(qblock(0, 4096, 4));
    // Block 9 of a body announced at 4,096 bytes (4 blocks).
    await h.send(
      request({
        messageId: nextMessageId++,
        options: [
          option(CoapOption.QBlock1, encodeBlock({ num: 9, more: true, szx: 6 })),
          option(CoapOption.RequestTag, Uint8Array.from([4])),
        ],
        payload: new Uint8Array(1024),
      }),
    );
    assert.equal(formatCode(h.received.at(-1)?.code ?? 0), '4.13');
    assert.match(text(h.received.at(-1)?.payload ?? new Uint8Array()), /beyond the announced Size1/);
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
    // Without Size1: the last block ends the body, and a block after it is refused.
    const noSize = (num: number, more: boolean) =>
      request({
        messageId: nextMessageId++,
        options: [
          option(CoapOption.QBlock1, encodeBlock({ num, more, szx: 6 })),
          option(CoapOption.RequestTag, Uint8Array.from([5])),
        ],
        payload: new Uint8Array(more ? 1024 : 10),
      });
    await h.send(noSize(2, false));
    assert.equal(formatCode(h.received.at(-1)?.code ?? 0), '4.08', 'the last block came first');
    await h.send(noSize(3, true));
    assert.equal(formatCode(h.received.at(-1)?.code ?? 0), '4.00');
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });

  it('bounds a flood of sets under new Request-Tags: per-peer and total limits, 5.03, counted', async () => {
    const h = await harness({ blockTransfersPerPeerMax: 4, blockBytesTotalMax: 8 * 1024 * 1024 });
    for (let tag = 0; tag < 10; tag += 1) await h.send(qblock(0, 100_000, 100 + tag, CoapType.CON));
    const codes = h.received.map((m) => formatCode(m.code));
    assert.deepEqual(codes.slice(0, 4), ['2.31', '2.31', '2.31', '2.31']);
    assert.deepEqual(codes.slice(4), ['5.03', '5.03', '5.03', '5.03', '5.03', '5.03']);
    assert.equal(h.server.stats.limitRefusals['blockTransfersPerPeerMax'], 6);
    const held = h.server.blockStats().block1HeldBytes;
    assert.equal(held, 4 * 100_000);
    // A body that would pass the total bound is refused before anything is allocated.
    const small = await harness({ blockBytesTotalMax: 8 * 1024 * 1024 });
    for (let tag = 0; tag < 3; tag += 1) await small.send(qblock(0, 3_000_000, 50 + tag, CoapType.CON));
    assert.deepEqual(
      small.received.map((m) => formatCode(m.code)),
      ['2.31', '2.31', '5.03'],
    );
    assert.equal(small.server.stats.limitRefusals['blockBytesTotalMax'], 1);
    assert.ok(small.server.blockStats().block1HeldBytes <= 8 * 1024 * 1024);
  });

  it('answers blocks under block1BytesMin with 4.13 and a Q-Block1 hint; Block1 with Q-Block1 is 4.02', async () => {
    const h = await harness({ block1BytesMin: 512 });
    await h.send(
      request({
        messageId: nextMessageId++,
        options: [option(CoapOption.QBlock1, encodeBlock({ num: 0, more: true, szx: 0 }))],
        payload: new Uint8Array(16),
      }),
    );
    const hint = h.received.at(-1);
    assert.equal(formatCode(hint?.code ?? 0), '4.13');
    assert.deepEqual(decodeBlock(firstOption(hint?.options ?? [], CoapOption.QBlock1) ?? new Uint8Array()), {
      num: 0,
      more: false,
      szx: 5,
    });
    await h.send(
      request({
        messageId: nextMessageId++,
        options: [
          option(CoapOption.QBlock1, encodeBlock({ num: 0, more: true, szx: 6 })),
          option(CoapOption.Block1, encodeBlock({ num: 0, more: true, szx: 6 })),
        ],
        payload: new Uint8Array(1024),
      }),
    );
    assert.equal(formatCode(h.received.at(-1)?.code ?? 0), '4.02');
  });

  it('encodes and decodes the missing-blocks CBOR sequence at every integer width', () => {
    const nums = [0, 23, 24, 255, 256, 65_535, 65_536, 1_048_575];
    const bytes = encodeMissingBlocks(nums);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x17, 0x18, 24]);
    assert.deepEqual(decodeMissingBlocks(bytes, 64), nums);
    assert.equal(decodeMissingBlocks(Uint8Array.from([0x20]), 64), null, 'a negative integer is not a block number');
    assert.equal(decodeMissingBlocks(Uint8Array.from([0x19, 1]), 64), null, 'truncated');
    assert.equal(decodeMissingBlocks(new Uint8Array(65), 64), null, 'more than the bound');
  });
});
