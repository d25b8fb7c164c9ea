// Proves that the client's direct read of whole responses (transport/coap/client-response.ts)
// changed nothing the client decides. Property — two clients alike in everything but the read
// (the same seed, so the same tokens and message ids; one reads datagrams in place, the other
// decodes every one into a message as before), given the same requests (a small body; one sent
// whole that a 4.13 may ask to go in blocks; one sent in Q-Block1 sets; an observation) and then
// the same sequence of datagrams from the server or from another endpoint (responses built on a
// request's token and message id, on it altered, or not, of any type and code, with any options,
// Block2 and Content-Format among them; cut or with a byte changed; arbitrary bytes), end in the
// same state: the same datagrams sent back (ACKs, RSTs, next blocks), every request settled the
// same way (the same response field by field and option by option, or the same error), the same
// notifications and counters. Mutations of each check of the direct read make it fail.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapClientResponse } from '../../../transport/coap/client-exchange.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage, type CoapOptionValue } from '../../../transport/coap/message.js';
import { encodeBlock, uintOption } from '../../../transport/coap/options.js';
import { fcParams } from '../../fc-params.js';
import { MemoryNetwork, type MemoryEndpoint } from '../memory-datagram.js';
import { VirtualTimers, settle } from '../virtual-timers.js';
import { anyDatagram, option, plain } from './coap-arbitraries.js';

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });

/** Options a response carries that the client reads, with values it accepts and ones it does not. */
const responseOption: fc.Arbitrary<CoapOptionValue> = fc.oneof(
  { weight: 1, arbitrary: option },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x1ffff }).map((v) => uintOption(CoapOption.ContentFormat, v)) },
  {
    // Mostly a first block of 16 bytes, so that Block2 transfers start and go on.
    weight: 3,
    arbitrary: fc
      .record({ num: fc.constantFrom(0, 0, 0, 1, 2), more: fc.boolean(), szx: fc.constantFrom(0, 0, 0, 1, 6) })
      .map((block) => ({ number: CoapOption.Block2, value: encodeBlock(block) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ num: fc.integer({ min: 0, max: 2 }), more: fc.boolean(), szx: fc.integer({ min: 0, max: 6 }) })
      .map((block) => ({ number: CoapOption.Block1, value: encodeBlock(block) })),
  },
  { weight: 1, arbitrary: bytes(0, 8).map((value) => ({ number: CoapOption.ETag, value })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((v) => uintOption(CoapOption.Observe, v)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 100 }).map((v) => uintOption(CoapOption.Size2, v)) },
);

/** A datagram the server sends: a response built on one of the client's messages, or anything. */
const reply = fc.record({
  pick: fc.nat(),
  /** The picked message's token, it with one byte changed, or a random one; its message id or a random one. */
  tokenFrom: fc.constantFrom('same', 'same', 'same', 'altered', 'random'),
  sameMessageId: fc.constantFrom(true, true, true, false),
  type: fc.constantFrom(CoapType.ACK, CoapType.ACK, CoapType.CON, CoapType.NON, CoapType.RST),
  code: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        CoapResponseCode.Changed,
        CoapResponseCode.Content,
        CoapResponseCode.Continue,
        CoapResponseCode.RequestEntityTooLarge,
        CoapResponseCode.RequestEntityIncomplete,
        CoapResponseCode.BadOption,
        CoapResponseCode.NotFound,
        CoapResponseCode.InternalServerError,
      ),
    },
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
  token: bytes(0, 8),
  messageId: fc.integer({ min: 0, max: 0xffff }),
  options: fc.oneof(fc.constant([]), fc.array(responseOption, { maxLength: 4 })),
  payload: fc.oneof(bytes(0, 0), bytes(1, 40), bytes(16, 16), bytes(16, 16), bytes(32, 32)),
  /** 0: as built; 1: cut; 2: a byte changed; 3: arbitrary bytes instead. */
  damage: fc.constantFrom(0, 0, 0, 0, 1, 2, 3),
  at: fc.nat(),
  value: fc.integer({ min: 0, max: 255 }),
  raw: anyDatagram,
  /** From another endpoint than the server. */
  stranger: fc.boolean(),
});
type Reply = typeof reply extends fc.Arbitrary<infer T> ? T : never;

function datagramOf(r: Reply, sent: Uint8Array): Uint8Array {
  if (r.damage === 3) return r.raw;
  const decoded = decodeMessage(sent);
  assert.ok(decoded.ok);
  const m = decoded.message;
  const empty = r.code === 0;
  const built = encodeMessage({
    type: r.type,
    code: r.code,
    messageId: r.sameMessageId ? m.messageId : r.messageId,
    token: empty ? new Uint8Array(0) : r.tokenFrom === 'random' ? r.token : tokenOf(m.token, r),
    options: empty ? [] : r.options,
    payload: empty ? new Uint8Array(0) : r.payload,
  });
  if (r.damage === 1) return built.subarray(0, r.at % (built.length + 1));
  if (r.damage === 2 && built.length > 0) built[r.at % built.length] = r.value;
  return built;
}

function tokenOf(token: Uint8Array, r: Reply): Uint8Array {
  if (r.tokenFrom === 'same' || token.length === 0) return token;
  const altered = Uint8Array.from(token);
  const at = r.at % altered.length;
  altered[at] = (altered[at] ?? 0) ^ (1 + (r.value % 255));
  return altered;
}

function responseOf(response: CoapClientResponse): unknown {
  const { code, payload, contentFormat, etag, options, peer } = response;
  return plain({ code, payload, contentFormat, etag, options: options.map((o) => ({ ...o })), peer });
}

/** One client on its own network, with the server and a stranger that record what reaches them. */
function side(readDirect: boolean) {
  const network = new MemoryNetwork();
  const timers = new VirtualTimers();
  const server = network.open('10.0.0.1');
  const stranger = network.open('10.0.0.3');
  const sent: Uint8Array[] = [];
  server.onMessage((data) => sent.push(data));
  stranger.onMessage((data) => sent.push(data));
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(network.open('10.0.0.2')), timers, prng: new SeededPrng(7), readDirect },
    { ackRandomFactor: 1, blockBytes: 16, wholeBodyBytesMax: 64 },
  );
  const outcomes: unknown[] = [];
  const notifications: unknown[] = [];
  const record = (i: number, settled: Promise<unknown>): void => {
    outcomes[i] = 'pending';
    settled.then(
      (value) => (outcomes[i] = value),
      (error: unknown) => (outcomes[i] = { error: String(error) }),
    );
  };
  const target = server.localAddress();
  record(
    0,
    client
      .request(target, { method: 'POST', path: ['raft', 'x'], payload: Buffer.from('small') }, 5000)
      .then(responseOf),
  );
  record(
    1,
    client
      .request(target, { method: 'PUT', path: ['kv'], payload: new Uint8Array(100).fill(7) }, 5000)
      .then(responseOf),
  );
  const whole = { method: 'POST' as const, path: ['raft', 'y'], payload: new Uint8Array(40).fill(9) };
  record(3, client.request(target, whole, 5000).then(responseOf));
  record(
    2,
    client
      .observe(target, { method: 'GET', path: ['watch'] }, 5000, (n, final) =>
        notifications.push([responseOf(n), final]),
      )
      .then((o) => ({ registered: o.registered, response: responseOf(o.response) })),
  );
  return { server, stranger, client, sent, outcomes, notifications };
}

type Side = ReturnType<typeof side>;

function stateOf(s: Side): unknown {
  return { sent: plain(s.sent), outcomes: s.outcomes, notifications: s.notifications, stats: { ...s.client.stats } };
}

describe('CoAP client direct read', () => {
  it('ends in the same state as the general path after any datagrams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(reply, { minLength: 1, maxLength: 10 }), async (replies) => {
        const sides = [side(true), side(false)];
        await settle();
        for (const r of replies) {
          assert.deepEqual(stateOf(sides[0]!), stateOf(sides[1]!));
          for (const s of sides) {
            const sent = s.sent[r.pick % s.sent.length]!;
            const from: MemoryEndpoint = r.stranger ? s.stranger : s.server;
            await from.send(datagramOf(r, sent), '10.0.0.2', 40002);
          }
          await settle();
        }
        assert.deepEqual(stateOf(sides[0]!), stateOf(sides[1]!));
        for (const s of sides) await s.client.close();
        await settle();
        assert.deepEqual(stateOf(sides[0]!), stateOf(sides[1]!));
      }),
      fcParams(3000, 'coap client direct read'),
    );
  });
});
