// Proves the server's separate responses to bodies that came in several messages
// (CoapServerOptions.separateBodyResponses, RFC 7252 §5.2.2), between our client and our server
// on the in-memory network with virtual time, each step read from the datagrams on the wire:
// - with the option, the request message that completes a Q-Block1 body is acknowledged with an
//   empty ACK once its handler has taken SEPARATE_RESPONSE_AFTER_MS; the client sends no block
//   twice while the handler takes 3 s (its retransmission timeout is 500 ms); the response comes
//   as a CON with the request's token, the client acknowledges it, and nothing stays pending on
//   the server;
// - a handler that answers within SEPARATE_RESPONSE_AFTER_MS is answered piggybacked, no empty
//   ACK, option or not;
// - without it (the peer RPC server's default), the same slow handler makes the client send the
//   body's last block again after each timeout, and the response is piggybacked;
// - a lost empty ACK: the client's retransmission gets the empty ACK again from the duplicate
//   cache, and the handler runs once;
// - a lost separate response: the server sends it again after notifyAckTimeoutMs;
// - a body in one message stays piggybacked, option or not.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapServerOptions } from '../../../transport/coap/config.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, type CoapMessage } from '../../../transport/coap/message.js';
import { decodeBlock, firstOption } from '../../../transport/coap/options.js';
import type { CoapClientResponse } from '../../../transport/coap/client-types.js';
import type { Datagram } from '../memory-datagram.js';
import { serverHarness } from './harness.js';
import { SEPARATE_RESPONSE_AFTER_MS } from '../../../transport/coap/delayed-acks.js';

const CLIENT = '10.0.0.3';
const SERVER = '10.0.0.1';
/** How long the handler takes, ms: several of the client's retransmission timeouts. */
const HANDLER_MS = 3_000;

interface Sent {
  readonly from: 'client' | 'server';
  readonly message: CoapMessage;
}

function wire(log: readonly Datagram[]): Sent[] {
  return log.flatMap((d) => {
    const decoded = decodeMessage(d.data);
    if (!decoded.ok) return [];
    return [{ from: d.from.address === CLIENT ? ('client' as const) : ('server' as const), message: decoded.message }];
  });
}

function qnum(m: CoapMessage): number {
  const value = firstOption(m.options, CoapOption.QBlock1);
  return value === null ? -1 : (decodeBlock(value)?.num ?? -1);
}

async function setup(options: Partial<CoapServerOptions>, handlerMs = HANDLER_MS) {
  const h = await serverHarness(options);
  let runs = 0;
  h.server.addResource('/kv/*', {
    PUT: () => {
      runs += 1;
      return new Promise((resolve) => h.timers.setTimer(handlerMs, () => resolve({ code: CoapResponseCode.Changed })));
    },
  });
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(h.network.open(CLIENT)), timers: h.timers, prng: new SeededPrng(7) },
    { ackTimeoutMs: 500 },
  );
  const put = async (size: number): Promise<CoapClientResponse> => {
    const answer = client.request(
      h.serverEndpoint.localAddress(),
      { method: 'PUT', path: ['kv', 'a'], payload: new Uint8Array(size).fill(3) },
      30_000,
    );
    for (let waited = 0; waited < 20_000 && client.outstandingCount > 0; waited += 100) await h.timers.advance(100);
    return answer;
  };
  // The first body meets the server: the probe learns that it takes Q-Block1.
  await put(3_000);
  h.network.log.length = 0;
  return { h, client, put, runs: () => runs };
}

describe('CoAP separate responses to bodies in several messages', () => {
  it('acknowledges the message that completes a body at once, and sends the response separately', async () => {
    const { h, client, put, runs } = await setup({ separateBodyResponses: true });
    const response = await put(20_000);
    assert.equal(response.code, CoapResponseCode.Changed);
    const sent = wire(h.network.log);
    const blocks = sent.filter((s) => s.from === 'client' && s.message.code !== 0).map((s) => qnum(s.message));
    assert.deepEqual(blocks, [...Array(20).keys()], 'every block once: nothing sent again while the handler ran');
    const last = sent.find((s) => s.from === 'client' && qnum(s.message) === 19)?.message;
    assert.ok(last !== undefined && last.type === CoapType.CON);
    const fromServer = sent.filter((s) => s.from === 'server').map((s) => s.message);
    const emptyAck = fromServer.find((m) => m.type === CoapType.ACK && m.code === 0);
    assert.equal(emptyAck?.messageId, last.messageId, 'an empty ACK of the last block');
    const separate = fromServer.filter((m) => m.code === CoapResponseCode.Changed);
    assert.equal(separate.length, 1);
    assert.equal(separate[0]?.type, CoapType.CON, 'the response is confirmable');
    assert.deepEqual(separate[0]?.token, last.token, "with the request's token");
    const clientAck = sent.find((s) => s.from === 'client' && s.message.type === CoapType.ACK && s.message.code === 0);
    assert.equal(clientAck?.message.messageId, separate[0]?.messageId, 'which the client acknowledges');
    assert.equal(h.server.blockStats().notificationsPending, 0, 'nothing left pending on the server');
    assert.equal(runs(), 2, 'the probe body and this one, once each');
    await client.close();
  });

  it('without the option, piggybacks the response: the client sends the last block again meanwhile', async () => {
    const { h, client, put } = await setup({});
    assert.equal((await put(20_000)).code, CoapResponseCode.Changed);
    const sent = wire(h.network.log);
    const lastBlocks = sent.filter((s) => s.from === 'client' && qnum(s.message) === 19);
    assert.ok(lastBlocks.length >= 3, `the last block went ${lastBlocks.length} times`);
    const answer = sent.find((s) => s.from === 'server' && s.message.code === CoapResponseCode.Changed)?.message;
    assert.equal(answer?.type, CoapType.ACK, 'piggybacked');
    await client.close();
  });

  it('answers a retransmission with the empty ACK again when the first was lost', async () => {
    const { h, client, put, runs } = await setup({ separateBodyResponses: true });
    let lost = 0;
    h.network.fate = (d) => {
      const decoded = decodeMessage(d.data);
      const emptyAck = decoded.ok && decoded.message.type === CoapType.ACK && decoded.message.code === 0;
      return d.from.address === SERVER && emptyAck && lost++ === 0 ? 'drop' : 'deliver';
    };
    assert.equal((await put(20_000)).code, CoapResponseCode.Changed);
    const sent = wire(h.network.log);
    assert.equal(sent.filter((s) => s.from === 'client' && qnum(s.message) === 19).length, 2, 'sent again once');
    const acks = sent.filter((s) => s.from === 'server' && s.message.type === CoapType.ACK && s.message.code === 0);
    assert.equal(acks.length, 2, 'the empty ACK twice');
    assert.equal(runs(), 2, 'the handler ran once for this body');
    await client.close();
  });

  it('sends a lost separate response again', async () => {
    const { h, client, put } = await setup({ separateBodyResponses: true, notifyAckTimeoutMs: 1_000 });
    let lost = 0;
    h.network.fate = (d) => {
      const decoded = decodeMessage(d.data);
      const answer = decoded.ok && decoded.message.code === CoapResponseCode.Changed;
      return d.from.address === SERVER && answer && lost++ === 0 ? 'drop' : 'deliver';
    };
    assert.equal((await put(20_000)).code, CoapResponseCode.Changed);
    const answers = wire(h.network.log).filter(
      (s) => s.from === 'server' && s.message.code === CoapResponseCode.Changed,
    );
    assert.equal(answers.length, 2);
    assert.equal(answers[0]?.message.messageId, answers[1]?.message.messageId, 'the same message again');
    assert.equal(h.server.blockStats().notificationsPending, 0);
    await client.close();
  });

  it('piggybacks the response of a handler that answers within SEPARATE_RESPONSE_AFTER_MS', async () => {
    const { h, client, put } = await setup({ separateBodyResponses: true }, SEPARATE_RESPONSE_AFTER_MS - 20);
    assert.equal((await put(20_000)).code, CoapResponseCode.Changed);
    const fromServer = wire(h.network.log).filter((s) => s.from === 'server');
    assert.equal(fromServer.filter((s) => s.message.code === 0).length, 0, 'no empty ACK');
    const answer = fromServer.find((s) => s.message.code === CoapResponseCode.Changed)?.message;
    assert.equal(answer?.type, CoapType.ACK, 'piggybacked');
    await client.close();
  });

  it('piggybacks the response to a body in one message, option or not', async () => {
    const { h, client, put } = await setup({ separateBodyResponses: true });
    assert.equal((await put(500)).code, CoapResponseCode.Changed);
    const answer = wire(h.network.log).find((s) => s.from === 'server' && s.message.code === CoapResponseCode.Changed);
    assert.equal(answer?.message.type, CoapType.ACK);
    await client.close();
  });
});
