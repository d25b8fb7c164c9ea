// Proves coraft's pieces (transport/coap/pieces.ts) between our client and our server on the
// in-memory network with virtual time: a body larger than the whole-body limit goes in pieces of
// `pieceBytes` in Q-Block1's payload sets, so a 64 KiB body costs 5 datagrams and one round trip
// (plus the probe the first time) instead of 64 blocks and 7; bodies at and across the piece and
// set boundaries arrive byte for byte; lost, duplicated and reordered pieces are recovered and
// each body is handled once; a server that does not know the option (an agent of the previous
// version during a rolling upgrade) answers the probe 4.02 and gets the body with Q-Block1,
// remembered per server. A body given as parts (a leader's AppendEntries: its head and the log's
// entries) goes in pieces that are views of those parts, never joined. Counts are read from the
// datagrams on the wire.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapClientOptions } from '../../../transport/coap/config.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage, type CoapMessage } from '../../../transport/coap/message.js';
import { decodeBlock, firstOption } from '../../../transport/coap/options.js';
import { decodePiece, encodePiece, pieceBytesFor } from '../../../transport/coap/pieces.js';
import type { DatagramEndpoint } from '../../../transport/datagram.js';
import type { Datagram } from '../memory-datagram.js';
import { serverHarness } from './harness.js';

/** The peer transport's sizes: a whole body up to one DTLS record, pieces of 15 KiB. */
const WHOLE = 16_256;
const PIECE = 15 * 1024;
const PEER_OPTIONS: Partial<CoapClientOptions> = { wholeBodyBytesMax: WHOLE, pieceBytes: PIECE };

function pattern(length: number, salt = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 31 + (i >> 8) + salt) & 0xff;
  return out;
}

/** The decoded request messages the client sent, in order. */
function clientRequests(log: readonly Datagram[]): CoapMessage[] {
  const out: CoapMessage[] = [];
  for (const d of log) {
    if (d.from.address !== '10.0.0.3') continue;
    const decoded = decodeMessage(d.data);
    if (decoded.ok && decoded.message.code !== 0) out.push(decoded.message);
  }
  return out;
}

/** The piece number of a request message, or -1. */
function pnum(m: CoapMessage): number {
  const value = firstOption(m.options, CoapOption.CoraftPiece1);
  return value === null ? -1 : (decodePiece(value)?.num ?? -1);
}

async function setup(options: Partial<CoapClientOptions> = PEER_OPTIONS, seed = 4) {
  const h = await serverHarness();
  const bodies: Uint8Array[] = [];
  h.server.addResource('/kv/*', {
    PUT: (r) => {
      bodies.push(r.payload);
      return Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(r.path.join('/')) });
    },
  });
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(h.network.open('10.0.0.3')), timers: h.timers, prng: new SeededPrng(seed) },
    options,
  );
  const put = (payload: Uint8Array, key = 'a') =>
    client.request(h.serverEndpoint.localAddress(), { method: 'PUT', path: ['kv', key], payload }, 60_000);
  return { h, client, bodies, put };
}

describe('coraft pieces (a private Q-Block1 with large blocks)', () => {
  it('encodes the option as num << 8 | M << 7 | units - 1, and sizes pieces in whole KiB', () => {
    for (const piece of [
      { num: 0, more: true, bytes: 1024 },
      { num: 4, more: false, bytes: PIECE },
      { num: 0xffffff, more: true, bytes: 128 * 1024 },
    ])
      assert.deepEqual(decodePiece(encodePiece(piece)), piece);
    assert.deepEqual([...encodePiece({ num: 1, more: true, bytes: PIECE })], [1, 0x80 | 14]);
    assert.equal(decodePiece(new Uint8Array(5)), null, 'longer than four bytes');
    assert.equal(pieceBytesFor(16_256), PIECE);
    assert.equal(pieceBytesFor(60_000), 58 * 1024);
    assert.equal(pieceBytesFor(1_152), 0, 'below 2 KiB, 1 KiB Q-Block1 blocks are as large');
  });

  it('sends 64 KiB in 5 pieces: the probe and the rest of the set the first time, one round trip after', async () => {
    const { h, client, bodies, put } = await setup();
    assert.equal((await put(pattern(65_536))).code, CoapResponseCode.Changed);
    assert.ok(Buffer.from(bodies[0] ?? []).equals(pattern(65_536)));
    let sent = clientRequests(h.network.log);
    assert.deepEqual(sent.map(pnum), [0, 1, 2, 3, 4], 'each piece once, nothing resent, no 1 KiB block');
    assert.deepEqual(sent.filter((m) => m.type === CoapType.CON).map(pnum), [0, 4], 'the probe, then the set');
    assert.ok(sent.every((m) => m.payload.length <= PIECE && m.payload.length + 128 <= 16_384));
    h.network.log.length = 0;
    assert.equal((await put(pattern(65_536, 1))).code, CoapResponseCode.Changed);
    sent = clientRequests(h.network.log);
    assert.deepEqual(
      sent.map((m) => `${m.type === CoapType.CON ? 'C' : 'N'}${pnum(m)}`),
      ['N0', 'N1', 'N2', 'N3', 'C4'],
      'a known server: one set, one round trip',
    );
    assert.ok(Buffer.from(bodies[1] ?? []).equals(pattern(65_536, 1)));
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
    await client.close();
  });

  it('delivers bodies at and across the piece and set boundaries byte for byte', async () => {
    const { h, client, bodies, put } = await setup();
    const sizes = [
      WHOLE, // whole, no piece
      WHOLE + 1,
      2 * PIECE,
      2 * PIECE + 1,
      10 * PIECE, // exactly one set
      10 * PIECE + 1, // a second set of one byte
      20 * PIECE - 1,
      1024 * 1024 + 3,
    ];
    for (const [i, size] of sizes.entries()) {
      h.network.log.length = 0;
      const response = await put(pattern(size, i), `k${i}`);
      assert.equal(response.code, CoapResponseCode.Changed, `${size} bytes`);
      assert.ok(Buffer.from(bodies[i] ?? []).equals(pattern(size, i)), `${size} bytes arrive intact`);
      const sent = clientRequests(h.network.log);
      const pieces = size <= WHOLE ? 1 : Math.ceil(size / PIECE);
      assert.equal(sent.length, pieces, `${size} bytes: one datagram per piece`);
      if (size > WHOLE) {
        const sets = Math.ceil(pieces / 10);
        const confirmable = sent.filter((m) => m.type === CoapType.CON).length;
        assert.equal(confirmable, sets + (i === 1 ? 1 : 0), `${size} bytes: one round trip per set (and the probe)`);
      }
    }
    assert.equal(h.server.blockStats().block1HeldBytes, 0, 'nothing held once the bodies are in');
    await client.close();
  });

  it('recovers reordered pieces: a set arriving backwards is answered 4.08 and completed, handled once', async () => {
    const { h, client, bodies, put } = await setup();
    await put(pattern(40_000)); // learns that the server takes pieces
    const held: Datagram[] = [];
    const replayed = new Set<Datagram>();
    const answers: string[] = [];
    h.network.fate = (d) => {
      const decoded = decodeMessage(d.data);
      if (decoded.ok && d.from.address === '10.0.0.1')
        answers.push(`${decoded.message.code >> 5}.0${decoded.message.code & 31}`);
      if (replayed.has(d) || d.from.address !== '10.0.0.3' || !decoded.ok || pnum(decoded.message) < 0)
        return 'deliver';
      if (decoded.message.type === CoapType.NON && held.length < 8) {
        held.push(d);
        return 'drop';
      }
      // The set's confirmable end goes first; the held pieces follow, last first.
      const late = held.splice(0).reverse();
      queueMicrotask(() => {
        for (const x of late) {
          replayed.add(x);
          h.network.route(x);
        }
      });
      return 'deliver';
    };
    const body = pattern(9 * PIECE + 123, 7);
    const response = await put(body, 'r');
    assert.equal(response.code, CoapResponseCode.Changed);
    assert.ok(Buffer.from(bodies[1] ?? []).equals(body), 'intact');
    assert.equal(bodies.length, 2, 'handled once');
    assert.ok(answers.includes('4.08'), `the early set end is answered with the missing pieces: ${answers.join(',')}`);
    await client.close();
  });

  it('delivers every body intact, handled once, through a network that drops, duplicates and reorders', async () => {
    // Property: whatever a seeded lossy network does to the datagrams (loss, duplication, pieces
    // held back and delivered late in reverse), every request that gets a response got it from
    // exactly one run of the handler with the exact body sent.
    for (const seed of [1, 2, 3, 4]) {
      const {
        h,
        client,
        put,
        bodies: handled,
      } = await setup({ ...PEER_OPTIONS, ackTimeoutMs: 50, maxRetransmit: 10 }, seed);
      const prng = new SeededPrng(seed * 7);
      const held: Datagram[] = [];
      const replayed = new Set<Datagram>();
      h.network.fate = (d) => {
        if (replayed.delete(d)) return 'deliver';
        if (prng.chance(0.1)) return 'drop';
        if (prng.chance(0.05)) return 'duplicate';
        if (prng.chance(0.15)) {
          held.push(d);
          return 'drop';
        }
        if (held.length > 0 && prng.chance(0.5)) {
          const late = held.splice(0).reverse();
          queueMicrotask(() => late.forEach((x) => (replayed.add(x), h.network.route(x))));
        }
        return 'deliver';
      };
      const bodies = Array.from({ length: 6 }, (_, i) => pattern(WHOLE + 1 + i * 23_456, i));
      const results = bodies.map((payload, i) => put(payload, `k${i}`));
      for (let i = 0; i < 1_000 && client.outstandingCount > 0; i += 1) await h.timers.advance(50);
      const responses = await Promise.all(results);
      const seen = handled.map((body) => Buffer.from(body).toString('base64'));
      responses.forEach((r, i) => {
        assert.equal(Buffer.from(r.payload).toString(), `kv/k${i}`);
        const body = Buffer.from(bodies[i] ?? []).toString('base64');
        assert.equal(seen.filter((b) => b === body).length, 1, `seed ${seed}: body ${i} handled once, intact`);
      });
      assert.equal(seen.length, new Set(seen).size, 'no body handled twice');
      await client.close();
    }
  });

  it('serves a server without pieces (an older agent) with Q-Block1 after its 4.02, and remembers it', async () => {
    const { h, client, put, bodies } = await setup();
    const seen: string[] = [];
    // A stand-in for an agent of the previous version: its server does not know option 65007,
    // so it answers 4.02 Bad Option as RFC 7252 §5.4.1 requires, and handles the rest as ours.
    const inner = h.network.fate;
    h.network.fate = (d) => {
      const decoded = decodeMessage(d.data);
      if (!decoded.ok || d.from.address !== '10.0.0.3' || decoded.message.code === 0) return inner(d);
      const m = decoded.message;
      const q = firstOption(m.options, CoapOption.QBlock1);
      seen.push(pnum(m) >= 0 ? 'p' : q !== null ? `q${decodeBlock(q)?.num}` : 'w');
      if (pnum(m) < 0) return inner(d);
      const reply = { type: CoapType.ACK, code: CoapResponseCode.BadOption, messageId: m.messageId, token: m.token };
      const bytes = encodeMessage({ ...reply, options: [], payload: new Uint8Array(0) });
      queueMicrotask(() => void h.serverEndpoint.send(bytes, d.from.address, d.from.port));
      return 'drop';
    };
    assert.equal((await put(pattern(20_000))).code, CoapResponseCode.Changed);
    assert.ok(Buffer.from(bodies[0] ?? []).equals(pattern(20_000)));
    assert.equal(seen[0], 'p', 'the piece probe');
    assert.deepEqual(seen.slice(1, 3), ['q0', 'q1'], 'then Q-Block1, probing too, from block 0');
    seen.length = 0;
    assert.equal((await put(pattern(20_000, 1))).code, CoapResponseCode.Changed);
    assert.ok(!seen.includes('p'), 'no second piece probe');
    assert.equal(seen.length, 20, 'the body in 1 KiB Q-Block1 blocks');
    assert.ok(Buffer.from(bodies[1] ?? []).equals(pattern(20_000, 1)));
    await client.close();
  });

  it('sends a body given as parts in pieces that are views of those parts, never a join of them', async () => {
    const h = await serverHarness();
    const bodies: Uint8Array[] = [];
    h.server.addResource('/raft/*', {
      POST: (r) => {
        bodies.push(r.payload);
        return Promise.resolve({ code: CoapResponseCode.Changed, payload: new Uint8Array(0) });
      },
    });
    const inner = h.network.open('10.0.0.3');
    const sentBodies: (readonly Uint8Array[])[] = [];
    const endpoint: DatagramEndpoint = {
      send: (data, address, port) => inner.send(data, address, port),
      sendParts: (head, body, address, port) => {
        sentBodies.push(body);
        return inner.send(Buffer.concat([head, ...body]), address, port);
      },
      onMessage: (handler) => inner.onMessage(handler),
      localAddress: () => inner.localAddress(),
      close: () => inner.close(),
    };
    const client = new CoapClient(
      { openEndpoint: () => Promise.resolve(endpoint), timers: h.timers, prng: new SeededPrng(9) },
      PEER_OPTIONS,
    );
    // Part boundaries inside pieces, on them, and a part spanning several (a leader's head and its log's entries).
    const layouts = [
      [7, 20_000, 33_333, 1, 12_000],
      [PIECE, PIECE, 3],
      [1, 3 * PIECE + 5],
      [40_000, 0, 40_000],
    ];
    for (const [i, sizes] of layouts.entries()) {
      const parts = sizes.map((size, j) => pattern(size, i * 7 + j));
      sentBodies.length = 0;
      const request = { method: 'POST' as const, path: ['raft', `r${i}`], payloadParts: parts };
      const response = await client.request(h.serverEndpoint.localAddress(), request, 60_000);
      assert.equal(response.code, CoapResponseCode.Changed);
      assert.ok(Buffer.from(bodies[i] ?? []).equals(Buffer.concat(parts)), `layout ${i} arrives intact`);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.equal(sentBodies.length, Math.ceil(total / PIECE), `layout ${i}: one datagram per piece`);
      for (const body of sentBodies)
        for (const view of body)
          assert.ok(
            parts.some((part) => part.buffer === view.buffer),
            `layout ${i}: every piece is a view of the caller's parts`,
          );
    }
    await client.close();
  });

  it('sends no pieces without pieceBytes (the default): Q-Block1 as before', async () => {
    const { h, client, put } = await setup({ wholeBodyBytesMax: WHOLE });
    await put(pattern(20_000));
    const sent = clientRequests(h.network.log);
    assert.equal(sent.length, 20);
    assert.ok(sent.every((m) => pnum(m) === -1));
    await client.close();
  });
});
