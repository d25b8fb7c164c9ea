// Proves GET /watch with Observe (RFC 7641) on the local endpoint, one-node cluster on virtual
// time, raw CoAP clients on the in-memory network:
// - the first answer replays every change after since; each later change arrives once, in
//   confirmable notifications whose ranges (since, revision] chain without gap or overlap;
// - a key that does not exist yet can be watched;
// - a burst larger than one notification (watchNotificationBytesMax) goes out over several,
//   each within the bound, nothing lost or repeated; a revision too large alone ends the watch
//   with a final 4.13 naming since (and a registration answer is 4.13 with no registration);
// - one notification in flight per observer: nothing more until it is acknowledged, and an
//   observer that never acknowledges is dropped (its watch with it);
// - a compacted since answers 4.04 without registering; limits are validated;
// - our CoapClient.observe takes the notifications (acknowledging the confirmable ones), and
//   after cancel answers the next one with RST, which ends the registration at the endpoint;
// - a flood of watch registrations keeps at most observersMax watches: the evicted ones get
//   nothing more (their state left with their registration).
import { strict as assert } from 'node:assert';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import type { CoapMessage } from '../../../transport/coap/message.js';
import { decodeUint, firstOption } from '../../../transport/coap/options.js';
import { resolveLocalEndpointOptions } from '../../../agent/endpoint/local-endpoint.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { virtualEndpointNode, type VirtualEndpointNode, type Wire } from './harness.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const observeOf = (m: CoapMessage): number | null => {
  const value = firstOption(m.options, CoapOption.Observe);
  return value === null ? null : decodeUint(value, 3);
};
const token = (n: number): Uint8Array => Uint8Array.from([n >> 8, n & 0xff, 0x0c]);

interface Doc {
  since: number;
  revision: number;
  events: { type: string; key: string; value?: string; revision: number }[];
  more: boolean;
}
const docOf = (m: CoapMessage): Doc => JSON.parse(text(m.payload)) as Doc;

let nextMessageId = 1;
/** PUTs without waiting (several may be applied in one batch). */
async function putNow(h: VirtualEndpointNode, key: string, value: string): Promise<void> {
  const messageId = nextMessageId++;
  await h
    .wire()
    .send({ method: 'PUT', path: `/kv/${key}`, messageId, token: token(messageId), payload: Buffer.from(value) });
}
async function put(h: VirtualEndpointNode, key: string, value: string): Promise<void> {
  await putNow(h, key, value);
  await h.run(300);
}

async function watch(h: VirtualEndpointNode, wire: Wire, query: string, t: Uint8Array): Promise<CoapMessage> {
  await wire.send({ path: `/watch?${query}`, messageId: nextMessageId++, token: t, observe: 0 });
  await h.run(200);
  const answer = wire.withToken(t)[0];
  assert.ok(answer !== undefined, `an answer to Observe /watch?${query}`);
  return answer;
}

/** Every event the documents received with `t` carry, after checking that their ranges chain from `start`. */
function chained(wire: Wire, t: Uint8Array, start: number): Doc['events'] {
  let last = start;
  const events: Doc['events'] = [];
  for (const message of wire.withToken(t)) {
    assert.equal(message.code, CoapResponseCode.Content, text(message.payload));
    const doc = docOf(message);
    if (doc.revision <= last) continue; // a retransmitted copy
    assert.equal(doc.since, last, 'each document starts where the one before ended');
    for (const e of doc.events) assert.ok(e.revision > doc.since && e.revision <= doc.revision);
    events.push(...doc.events);
    last = doc.revision;
  }
  return events;
}

describe('local endpoint: GET /watch with Observe', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('replays after since, then notifies each change once, confirmable, ranges chained', async () => {
    h = await virtualEndpointNode();
    await put(h, 'w/a', '1');
    const start = docOf(await watch(h, h.wire(), 'prefix=w/', token(50))).revision;
    await put(h, 'w/b', '2');
    await put(h, 'x', 'other');
    const wire = h.wire();
    wire.autoAck = true;
    const first = await watch(h, wire, `prefix=w/&since=${start - 1}`, token(1));
    assert.ok(observeOf(first) !== null, 'registered');
    assert.deepEqual(
      docOf(first).events.map((e) => [e.key, e.value]),
      [
        ['w/a', '1'],
        ['w/b', '2'],
      ],
    );
    await put(h, 'w/c', '3');
    await put(h, 'y', 'other');
    await h.wire().send({ method: 'DELETE', path: '/kv/w/a', messageId: nextMessageId++, token: token(999) });
    await h.run(300);
    await put(h, 'w/c', '4');
    const notifications = wire.withToken(token(1)).slice(1);
    assert.ok(notifications.length >= 3);
    for (const n of notifications) assert.equal(n.type, CoapType.CON, 'watch notifications are confirmable');
    assert.deepEqual(
      chained(wire, token(1), start - 1).map((e) => `${e.type} ${e.key} ${e.value ?? ''}`),
      ['put w/a 1', 'put w/b 2', 'put w/c 3', 'delete w/a ', 'put w/c 4'],
    );
    assert.equal(h.endpoint.observerCount(), 2, 'both watches stay (the first still retransmits its notification)');
  });

  it('watches a key that does not exist yet', async () => {
    h = await virtualEndpointNode();
    const wire = h.wire();
    wire.autoAck = true;
    const first = await watch(h, wire, 'key=later', token(1));
    assert.equal(first.code, CoapResponseCode.Content);
    const start = docOf(first).revision;
    assert.deepEqual(docOf(first).events, []);
    await put(h, 'later2', 'no');
    await put(h, 'later', 'now');
    assert.deepEqual(
      chained(wire, token(1), start).map((e) => `${e.key}=${e.value ?? ''}`),
      ['later=now'],
    );
  });

  it('splits a burst over notifications within watchNotificationBytesMax, nothing lost or repeated', async () => {
    h = await virtualEndpointNode({ watchNotificationBytesMax: 200 });
    const wire = h.wire();
    wire.autoAck = true;
    const start = docOf(await watch(h, wire, 'prefix=b/', token(1))).revision;
    for (let i = 0; i < 40; i += 1) await putNow(h, `b/${i}`, `value-${i}`);
    await h.run(2000);
    for (const m of wire.withToken(token(1))) assert.ok(m.payload.length <= 200, `${m.payload.length} bytes`);
    const events = chained(wire, token(1), start);
    assert.equal(events.length, 40);
    assert.deepEqual(new Set(events.map((e) => e.key)).size, 40, 'each put once');
    assert.ok(wire.withToken(token(1)).length > 5, 'several notifications');
  });

  it('ends the watch with 4.13 naming since when one revision exceeds a notification', async () => {
    h = await virtualEndpointNode({ watchNotificationBytesMax: 200 });
    const wire = h.wire();
    wire.autoAck = true;
    const start = docOf(await watch(h, wire, 'prefix=big/', token(1))).revision;
    await put(h, 'big/1', 'x'.repeat(500));
    const last = wire.withToken(token(1)).at(-1);
    assert.ok(last !== undefined);
    assert.equal(last.code, CoapResponseCode.RequestEntityTooLarge);
    assert.equal(observeOf(last), null, 'a final notification');
    assert.match(text(last.payload), new RegExp(`since=${start} `));
    assert.equal(h.endpoint.observerCount(), 0);
    const again = await watch(h, h.wire(), `prefix=big/&since=${start}`, token(2));
    assert.equal(again.code, CoapResponseCode.RequestEntityTooLarge);
    assert.equal(h.endpoint.observerCount(), 0, 'no registration on a 4.13');
  });

  it('keeps one notification in flight and drops an observer that never acknowledges', async () => {
    h = await virtualEndpointNode({ notifyAckTimeoutMs: 100, notifyRetransmitMax: 2 });
    const wire = h.wire();
    await watch(h, wire, 'prefix=s/', token(1));
    await put(h, 's/1', 'a');
    await put(h, 's/2', 'b');
    await put(h, 's/3', 'c');
    const sent = wire.withToken(token(1)).slice(1);
    assert.ok(sent.length >= 1);
    assert.equal(new Set(sent.map((m) => m.messageId)).size, 1, 'only one notification (and its retransmissions)');
    await h.run(2000);
    assert.equal(h.endpoint.observerCount(), 0, 'dropped after the retransmissions');
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'unacknowledged' }), 1);
    await put(h, 's/4', 'd');
    assert.equal(
      new Set(
        wire
          .withToken(token(1))
          .slice(1)
          .map((m) => m.messageId),
      ).size,
      1,
      'nothing after',
    );
  });

  it('answers a compacted since with 4.04 and no registration, and ends a watch that falls behind', async () => {
    h = await virtualEndpointNode({ notifyAckTimeoutMs: 1000 }, { historyRevisionsMax: 3 });
    const slow = h.wire();
    const start = docOf(await watch(h, slow, 'prefix=c/', token(2))).revision;
    for (let i = 0; i < 6; i += 1) await put(h, `c/${i}`, 'a');
    const answer = await watch(h, h.wire(), 'prefix=c/&since=0', token(1));
    assert.equal(answer.code, CoapResponseCode.NotFound);
    assert.match(text(answer.payload), /^compacted: oldest revision \d+/);
    // The slow observer acknowledges its first notification only now: its cursor fell out of the window.
    const pending = slow.withToken(token(2))[1];
    assert.ok(pending !== undefined);
    assert.equal(docOf(pending).since, start);
    await slow.reply('ack', pending.messageId);
    await h.run(100);
    const final = slow.withToken(token(2)).at(-1);
    assert.equal(final?.code, CoapResponseCode.NotFound);
    assert.match(text(final.payload), /^compacted/);
    assert.equal(h.endpoint.observerCount(), 0);
  });

  it('CoapClient.observe takes notifications and ends the observation with RST after cancel', async () => {
    h = await virtualEndpointNode();
    const client = new CoapClient({
      openEndpoint: () => Promise.resolve(h.network.open('127.0.0.1')),
      timers: h.timers,
      prng: new SeededPrng(9),
    });
    const got: { doc: Doc | null; final: boolean }[] = [];
    const listener = (n: CoapClientResponse, final: boolean): void =>
      void got.push({ doc: final ? null : (JSON.parse(text(n.payload)) as Doc), final });
    const pending = client.observe(h.address, { method: 'GET', path: ['watch'], query: ['prefix=o/'] }, 5000, listener);
    await h.run(200);
    const observation = await pending;
    assert.equal(observation.registered, true);
    const start = docOf({ payload: observation.response.payload } as CoapMessage).revision;
    await put(h, 'o/1', 'a');
    await put(h, 'o/2', 'b');
    assert.deepEqual(
      got.map((g) => g.doc?.events.map((e) => e.value)),
      [['a'], ['b']],
    );
    assert.equal(got[0]?.doc?.since, start);
    assert.equal(h.metrics.count('coap_notifications_total', { server: 'endpoint', outcome: 'acknowledged' }), 2);
    observation.cancel();
    await put(h, 'o/3', 'c');
    await h.run(100);
    assert.equal(got.length, 2, 'nothing after cancel');
    assert.equal(h.endpoint.observerCount(), 0, 'the RST ended the registration');
    const refused = client.observe(h.address, { method: 'GET', path: ['watch'], query: ['key=', 'x'] }, 5000, listener);
    await h.run(200);
    assert.equal((await refused).registered, false);
    await client.close();
  });

  it('keeps at most observersMax watches under a flood of registrations', async () => {
    h = await virtualEndpointNode({ observersMax: 50, observersPerPeerMax: 50 });
    const wires = Array.from({ length: 4 }, () => h.wire());
    for (const [w, wire] of wires.entries()) {
      wire.autoAck = true;
      for (let t = 0; t < 50; t += 1)
        await wire.send({ path: '/watch?prefix=f/', messageId: t + 1, token: token(w * 100 + t), observe: 0 });
    }
    await h.run(200);
    assert.equal(h.endpoint.observerCount(), 50);
    const answered = wires.reduce((sum, wire) => sum + wire.received.length, 0);
    assert.equal(answered, 200, 'every registration was answered');
    await put(h, 'f/1', 'x');
    const notified = wires.reduce((sum, wire) => sum + wire.received.length, 0) - answered;
    assert.equal(notified, 50, 'only the 50 watches held are notified');
    assert.ok(wires[3]?.withToken(token(349)).length === 2, 'the newest registration is among them');
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'observersMax' }), 150);
  });

  it('validates watchNotificationBytesMax', () => {
    h = { stop: () => Promise.resolve() } as unknown as VirtualEndpointNode;
    assert.throws(() => resolveLocalEndpointOptions({ watchNotificationBytesMax: 10 }), /watchNotificationBytesMax/);
    assert.throws(
      () => resolveLocalEndpointOptions({ watchNotificationBytesMax: 20_000 }),
      /watchNotificationBytesMax/,
    );
  });
});
