// Attacks the server's reassembly of coraft's pieces (transport/coap/pieces.ts) byte by byte from
// a raw endpoint on the in-memory network with virtual time, and proves each refusal: a piece
// larger than its declared size, or short before the last, is 4.00; a piece beyond the announced
// Size1 or beyond bodyBytesMax (a huge piece number) is 4.13 and ends the transfer; a Size1 over
// bodyBytesMax is 4.13 before anything is held; a piece size that changes within a body is 4.00;
// a piece with Q-Block1 or Block1, a piece option longer than 4 bytes or repeated, is 4.02; a
// flood of bodies under new Request-Tags meets blockTransfersPerPeerMax and blockBytesTotalMax
// (5.03, counted), the memory held being the real byteLength of the buffers; an abandoned
// transfer is swept by the timer; a set of pieces is answered 2.31 naming its last piece.
import { strict as assert } from 'node:assert';
import { CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import { encodeBlock, firstOption, option, uintOption } from '../../../transport/coap/options.js';
import { decodePiece, encodePiece } from '../../../transport/coap/pieces.js';
import { decodeMissingBlocks } from '../../../transport/coap/qblock-store.js';
import { request, serverHarness, text } from './harness.js';

const PIECE = 15 * 1024;
let nextMessageId = 1;

interface PieceSpec {
  readonly num: number;
  readonly size1: number;
  readonly tag: number;
  readonly type?: CoapType;
  /** The declared piece size. */
  readonly bytes?: number;
  /** The payload's length; default what the piece should hold. */
  readonly length?: number;
  readonly more?: boolean;
  readonly extra?: readonly { number: number; value: Uint8Array }[];
}

/** Piece `num` of a body of `size1` bytes, under Request-Tag `tag`. */
function piece(spec: PieceSpec): Uint8Array {
  const bytes = spec.bytes ?? PIECE;
  const more = spec.more ?? (spec.num + 1) * bytes < spec.size1;
  const length = spec.length ?? (more ? bytes : spec.size1 - spec.num * bytes);
  return request({
    type: spec.type ?? CoapType.NON,
    messageId: nextMessageId++,
    token: Uint8Array.from([spec.tag, spec.num & 0xff]),
    options: [
      ...(spec.extra ?? []),
      uintOption(CoapOption.Size1, spec.size1),
      option(CoapOption.RequestTag, Uint8Array.from([spec.tag])),
      option(CoapOption.CoraftPiece1, encodePiece({ num: spec.num, more, bytes })),
    ],
    payload: new Uint8Array(Math.max(0, length)).fill(spec.num & 0xff),
  });
}

async function harness(options = {}) {
  const h = await serverHarness(options);
  h.server.addResource('/raft/AppendEntries', {
    POST: (r: { payload: Uint8Array }) =>
      Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(String(r.payload.length)) }),
  });
  return h;
}

const lastCode = (h: { received: readonly { code: number }[] }) => formatCode(h.received.at(-1)?.code ?? 0);
const CON = CoapType.CON;

describe('CoAP server reassembly of coraft pieces', () => {
  it('answers a whole set 2.31 naming its last piece, a set with holes 4.08 listing them; body intact', async () => {
    const h = await harness();
    const size1 = 12 * PIECE + 5;
    for (const num of [0, 1, 3, 4, 5, 6, 7, 8]) await h.send(piece({ num, size1, tag: 1 }));
    assert.equal(h.received.length, 0, 'pieces within a set get no answer');
    await h.send(piece({ num: 9, size1, tag: 1, type: CON }));
    assert.equal(lastCode(h), '4.08');
    assert.deepEqual(decodeMissingBlocks(h.received.at(-1)?.payload ?? new Uint8Array(), 64), [2]);
    await h.send(piece({ num: 2, size1, tag: 1, type: CON }));
    assert.equal(lastCode(h), '2.31');
    const named = firstOption(h.received.at(-1)?.options ?? [], CoapOption.CoraftPiece1);
    assert.deepEqual(decodePiece(named ?? new Uint8Array()), { num: 9, more: true, bytes: PIECE });
    await h.send(piece({ num: 11, size1, tag: 1 }));
    await h.send(piece({ num: 12, size1, tag: 1, type: CON }));
    assert.equal(lastCode(h), '4.08', 'piece 10 is missing');
    await h.send(piece({ num: 10, size1, tag: 1, type: CON }));
    assert.equal(lastCode(h), '2.04');
    assert.equal(text(h.received.at(-1)?.payload ?? new Uint8Array()), String(size1));
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });

  it('refuses a piece larger than its size, or short before the last, with 4.00', async () => {
    const h = await harness();
    await h.send(piece({ num: 0, size1: 3 * PIECE, tag: 2, type: CON, length: PIECE + 1 }));
    assert.equal(lastCode(h), '4.00');
    await h.send(piece({ num: 0, size1: 3 * PIECE, tag: 2, type: CON, length: PIECE - 1 }));
    assert.equal(lastCode(h), '4.00');
    assert.equal(h.server.blockStats().block1Transfers, 0, 'nothing held');
  });

  it('refuses pieces beyond Size1 or bodyBytesMax with 4.13 and ends the transfer', async () => {
    const h = await harness({ bodyBytesMax: 1024 * 1024 });
    await h.send(piece({ num: 0, size1: 3 * PIECE, tag: 3 }));
    assert.equal(h.server.blockStats().block1HeldBytes, 3 * PIECE, 'the announced buffer');
    await h.send(piece({ num: 3, size1: 3 * PIECE, tag: 3, type: CON, more: true }));
    assert.equal(lastCode(h), '4.13', 'beyond the announced Size1');
    assert.equal(h.server.blockStats().block1Transfers, 0, 'the transfer ended');
    // A huge piece number: its offset is far beyond bodyBytesMax.
    await h.send(piece({ num: 0xffffff, size1: 64 * 1024, tag: 4, type: CON, bytes: 128 * 1024, length: 10 }));
    assert.equal(lastCode(h), '4.13');
    await h.send(piece({ num: 0, size1: 2 * 1024 * 1024, tag: 5, type: CON }));
    assert.equal(lastCode(h), '4.13', 'Size1 over bodyBytesMax');
    assert.equal(h.server.blockStats().block1HeldBytes, 0, 'nothing held');
  });

  it('refuses a piece size that changes within a body with 4.00', async () => {
    const h = await harness();
    await h.send(piece({ num: 0, size1: 8 * PIECE, tag: 6 }));
    await h.send(piece({ num: 1, size1: 8 * PIECE, tag: 6, bytes: 2 * PIECE, type: CON }));
    assert.equal(lastCode(h), '4.00');
    assert.equal(h.server.blockStats().block1Transfers, 0);
  });

  it('refuses a piece with Q-Block1 or Block1, and a malformed or repeated piece option, with 4.02', async () => {
    const h = await harness();
    const q = option(CoapOption.QBlock1, encodeBlock({ num: 0, more: true, szx: 6 }));
    await h.send(piece({ num: 0, size1: 3 * PIECE, tag: 7, type: CON, extra: [q] }));
    assert.equal(lastCode(h), '4.02');
    const b = option(CoapOption.Block1, encodeBlock({ num: 0, more: true, szx: 6 }));
    await h.send(piece({ num: 0, size1: 3 * PIECE, tag: 7, type: CON, extra: [b] }));
    assert.equal(lastCode(h), '4.02');
    const long = option(CoapOption.CoraftPiece1, new Uint8Array(5));
    await h.send(request({ messageId: nextMessageId++, options: [long], payload: new Uint8Array(PIECE) }));
    assert.equal(lastCode(h), '4.02');
    const twice = option(CoapOption.CoraftPiece1, encodePiece({ num: 0, more: true, bytes: PIECE }));
    await h.send(request({ messageId: nextMessageId++, options: [twice, twice], payload: new Uint8Array(PIECE) }));
    assert.equal(lastCode(h), '4.02');
    assert.equal(h.server.blockStats().block1Transfers, 0);
  });

  it('bounds a flood of bodies by transfers per peer and by real bytes held (5.03, counted)', async () => {
    const h = await harness({ blockTransfersPerPeerMax: 4, blockBytesTotalMax: 8 * 1024 * 1024 });
    // Each opens a transfer announcing 1 MiB: the fifth meets the per-peer bound.
    for (let tag = 10; tag < 15; tag += 1) await h.send(piece({ num: 0, size1: 1024 * 1024, tag, type: CON }));
    assert.equal(lastCode(h), '5.03');
    assert.equal(h.server.stats.limitRefusals.blockTransfersPerPeerMax, 1);
    const stats = h.server.blockStats();
    assert.equal(stats.block1Transfers, 4);
    assert.equal(stats.block1HeldBytes, 4 * 1024 * 1024, 'the announced buffers');
    assert.equal(stats.block1BufferBytes, stats.block1HeldBytes, 'counted as the buffers really held');
    const total = await harness({
      bodyBytesMax: 1024 * 1024,
      blockTransfersPerPeerMax: 100,
      blockBytesTotalMax: 3 * 1024 * 1024,
    });
    for (let tag = 20; tag < 24; tag += 1) await total.send(piece({ num: 0, size1: 1024 * 1024, tag, type: CON }));
    assert.equal(lastCode(total), '5.03');
    assert.equal(total.server.stats.limitRefusals.blockBytesTotalMax, 1);
    assert.ok(total.server.blockStats().block1HeldBytes <= 3 * 1024 * 1024);
  });

  it('sweeps an abandoned transfer when its lifetime ends', async () => {
    const h = await harness({ blockTransferLifetimeMs: 1_000 });
    for (const num of [0, 2]) await h.send(piece({ num, size1: 5 * PIECE, tag: 30 }));
    assert.equal(h.server.blockStats().block1HeldBytes, 5 * PIECE);
    await h.timers.advance(1_300);
    assert.equal(h.server.blockStats().block1Transfers, 0);
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
  });
});
