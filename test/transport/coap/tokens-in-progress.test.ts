// Two confirmable requests from one client address and port with one token, in progress at once:
// the later one is refused 5.03 without running (a client matching answers by token alone, as
// libcoap's coap-client does, took the other's answer for its own); distinct tokens, another port,
// or the token again once its request is answered run as ever.
import { strict as assert } from 'node:assert';
import { CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import { decodeMessage, type CoapMessage } from '../../../transport/coap/message.js';
import { settle } from '../virtual-timers.js';
import { request, serverHarness, text, type ServerHarness } from './harness.js';

const TOKEN = Uint8Array.from([1]);

/** A resource whose answers wait until released, in order; `runs` counts its handler's calls. */
function heldResource(h: ServerHarness): { runs: () => number; release: () => void } {
  const waiting: (() => void)[] = [];
  let runs = 0;
  h.server.addResource('/kv/k', {
    PUT: (r: { payload: Uint8Array }) => {
      runs += 1;
      const run = runs;
      return new Promise((resolve) => {
        waiting.push(() =>
          resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`${text(r.payload)} ${run}`) }),
        );
      });
    },
  });
  return { runs: () => runs, release: () => waiting.shift()?.() };
}

function put(messageId: number, value: string, token = TOKEN): Uint8Array {
  return request({ method: 'PUT', path: '/kv/k', messageId, token, payload: Buffer.from(value) });
}

function summary(message: CoapMessage | undefined): string {
  return `${message?.messageId} ${formatCode(message?.code ?? 0)} ${text(message?.payload ?? new Uint8Array(0))}`;
}

describe('CoapServer: one token in progress per client', () => {
  it('refuses a second request with the token of one in progress from the same address and port', async () => {
    const h = await serverHarness();
    const held = heldResource(h);
    await h.send(put(10, 'a'));
    await h.send(put(11, 'b'));
    assert.equal(held.runs(), 1, 'the second request did not run');
    assert.equal(h.received.length, 1);
    const refusal = h.received[0];
    assert.equal(refusal?.type, CoapType.ACK);
    assert.deepEqual([...(refusal?.token ?? [])], [...TOKEN]);
    assert.match(summary(refusal), /^11 5\.03 another request with this token .* this one was not run/);
    // Its retransmission gets the same refusal; the first request's answer is its own.
    await h.send(put(11, 'b'));
    held.release();
    await settle();
    assert.deepEqual(h.received.slice(1).map(summary), [summary(refusal), '10 2.04 a 1']);
    assert.equal(held.runs(), 1);
    // Counted once (the retransmission was answered from the duplicate cache): coap_limit_refusals_total.
    assert.equal(h.server.stats.limitRefusals['tokenInProgress'], 1);
  });

  it('runs a request with the token again once the first is answered', async () => {
    const h = await serverHarness();
    const held = heldResource(h);
    await h.send(put(20, 'a'));
    held.release();
    await settle();
    await h.send(put(21, 'b'));
    held.release();
    await settle();
    assert.deepEqual(h.received.map(summary), ['20 2.04 a 1', '21 2.04 b 2']);
  });

  it('runs requests in progress together with distinct tokens, or with one token from another port', async () => {
    const h = await serverHarness();
    const held = heldResource(h);
    const other = h.network.open('10.0.0.2');
    const fromOther: string[] = [];
    other.onMessage((data) => {
      const decoded = decodeMessage(data);
      if (decoded.ok) fromOther.push(summary(decoded.message));
    });
    await h.send(put(30, 'a'));
    await h.send(put(31, 'b', Uint8Array.from([2])));
    await other.send(put(32, 'c'), h.serverEndpoint.address, h.serverEndpoint.port);
    await settle();
    assert.equal(held.runs(), 3);
    for (let i = 0; i < 3; i += 1) held.release();
    await settle();
    assert.deepEqual(h.received.map(summary), ['30 2.04 a 1', '31 2.04 b 2']);
    assert.deepEqual(fromOther, ['32 2.04 c 3']);
  });

  it('refuses nothing once every request was answered', async () => {
    const h = await serverHarness();
    const held = heldResource(h);
    for (let id = 40; id < 45; id += 1) {
      await h.send(put(id, `v${id}`));
      held.release();
      await settle();
    }
    assert.equal(held.runs(), 5);
    assert.ok(h.received.every((m) => m.code === CoapResponseCode.Changed));
  });
});
