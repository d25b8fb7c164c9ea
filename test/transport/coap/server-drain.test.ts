// Proves CoapServer.drain: a stop right after it drops no answer a handler in flight decided (the
// agent's endpoint drains after a fatal error such as a full disk, so a write in flight is answered
// with its error instead of going unanswered), and drain gives up at its timeout.
import { strict as assert } from 'node:assert';
import { CoapResponseCode, formatCode } from '../../../transport/coap/codes.js';
import type { CoapResponse } from '../../../transport/coap/index.js';
import { diagnosticResponse } from '../../../transport/coap/request.js';
import { request, serverHarness, text } from './harness.js';

describe('CoapServer.drain', () => {
  it('lets a handler in flight answer before stop, and ends at its timeout', async () => {
    const h = await serverHarness();
    let answer: (response: CoapResponse) => void = () => undefined;
    h.server.addResource('/kv/*', {
      PUT: () =>
        new Promise<CoapResponse>((resolve) => {
          answer = resolve;
        }),
    });
    await h.send(request({ method: 'PUT', path: '/kv/a', messageId: 1 }));
    // The handler fails its write a moment later (as the node's pending writes after a fatal error).
    h.timers.setTimer(30, () => answer(diagnosticResponse(CoapResponseCode.ServiceUnavailable, 'the node stopped')));
    const drained = h.server.drain(1000);
    await h.timers.advance(50);
    await drained;
    await h.server.stop();
    const answered = h.received.find((m) => m.messageId === 1);
    assert.ok(answered !== undefined, 'answered before the stop');
    assert.match(text(answered.payload), /the node stopped/);

    const slow = await serverHarness();
    slow.server.addResource('/kv/*', { PUT: () => new Promise<CoapResponse>(() => undefined) });
    await slow.send(request({ method: 'PUT', path: '/kv/b', messageId: 2 }));
    const bounded = slow.server.drain(100);
    await slow.timers.advance(200);
    await bounded;
    await slow.server.stop();
    assert.equal(slow.received.filter((m) => formatCode(m.code) !== '0.00').length, 0);
  });
});
