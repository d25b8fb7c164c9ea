// Proves that Observe registrations at the local endpoint expire and stay bounded (RFC 7641),
// on a one-node cluster with virtual time and raw CoAP clients on the in-memory network:
// - after 10,000 registrations on /status and /kv/{key} from 100 ports × 100 tokens, the table
//   holds at most observersMax, and a fresh observer still gets its notifications;
// - one client endpoint holds at most observersPerPeerMax, its oldest evicted first;
// - an RST in answer to a notification deregisters (§3.6);
// - one in observeConfirmableEvery notifications is confirmable, and an observer that never
//   acknowledges it is dropped after the retransmissions, while one that does stays (§4.5);
//   a notification is confirmable too once observeConfirmableIntervalMs passed without one;
// - a value over one block is notified as its first Block2 block, the rest fetched by GET (RFC 7959 §2.6);
// - a snapshot restore (no entry applied) tells the observers of every key its value, or ends them;
// - Observe of a missing key ends at once with 4.04, no registration, and a diagnostic naming
//   the watch resource; a deleted key ends its observations with a final 4.04 (§4.2), and so
//   does a key deleted with its lease (a revoke names no key: the history gives them);
// - an endpoint that stops ends every observation with a final 5.03 (no Observe), so its observers need
//   not wait for Max-Age to learn that nothing more will come;
// - the endpoint looks for a changed /status only while /status has an observer: without one
//   it sets no timer for it (an idle agent does not wake up for nothing, issue 17).
import { strict as assert } from 'node:assert';
import { CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import type { CoapMessage, CoapOptionValue } from '../../../transport/coap/message.js';
import { decodeBlock, decodeUint, encodeBlock, firstOption, option } from '../../../transport/coap/options.js';
import { virtualEndpointNode, type VirtualEndpointNode, type Wire } from './harness.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import type { TimerHandle } from '../../../contracts/clock.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const observeOf = (m: CoapMessage): number | null => {
  const value = firstOption(m.options, CoapOption.Observe);
  return value === null ? null : decodeUint(value, 3);
};
const decodeBlockOption = (m: CoapMessage, number: number): ReturnType<typeof decodeBlock> =>
  decodeBlock(firstOption(m.options, number) ?? new Uint8Array());
const token = (n: number): Uint8Array => Uint8Array.from([n >> 8, n & 0xff, 0x0b]);

let nextMessageId = 1;
async function put(h: VirtualEndpointNode, key: string, value: string): Promise<void> {
  const writer = h.wire();
  const messageId = nextMessageId++;
  await writer.send({
    method: 'PUT',
    path: `/kv/${key}`,
    messageId,
    token: token(messageId),
    payload: Buffer.from(value),
  });
  await h.run(300);
  // 2.01 when the PUT creates the key, 2.04 when it changes it.
  assert.match(formatCode(writer.received[0]?.code ?? 0), /^2\.0[14]$/, `PUT ${key}=${value}`);
  await writer.socket.close();
}

async function observe(h: VirtualEndpointNode, wire: Wire, path: string, t: Uint8Array): Promise<CoapMessage> {
  await wire.send({ path, messageId: nextMessageId++, token: t, observe: 0 });
  await h.run(100);
  const answer = wire.withToken(t)[0];
  assert.ok(answer !== undefined, `an answer to Observe ${path}`);
  return answer;
}

describe('local endpoint: Observe registrations expire and stay bounded', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('still notifies a fresh observer after 10,000 registrations from many ports and tokens', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v0');
    for (let port = 0; port < 100; port += 1) {
      const wire = h.wire();
      for (let t = 0; t < 100; t += 1)
        await wire.send({
          path: t % 2 === 0 ? '/kv/k?stale' : '/status',
          messageId: t + 1,
          token: token(t),
          observe: 0,
        });
    }
    await h.run(50);
    const fresh = h.wire();
    const first = await observe(h, fresh, '/kv/k', token(1));
    assert.equal(text(first.payload), 'v0');
    assert.ok(observeOf(first) !== null, 'the fresh observer is registered');
    const status = await observe(h, fresh, '/status', token(2));
    assert.ok(observeOf(status) !== null);
    await put(h, 'k', 'v1');
    await h.run(500);
    const onKey = fresh.withToken(token(1));
    assert.deepEqual(
      onKey.map((m) => text(m.payload)),
      ['v0', 'v1'],
    );
    assert.ok(
      (observeOf(onKey[1] ?? first) ?? 0) > (observeOf(first) ?? 0),
      'the notification carries a newer Observe value',
    );
    assert.ok(fresh.withToken(token(2)).length >= 2, 'a /status notification followed the commit');
    assert.equal(h.endpoint.observerCount(), 1024, 'the table holds observersMax');
    // Each port's 100 registrations pass its 64 (observersPerPeerMax), and all of them, with the
    // fresh observer's two, pass 1,024 (observersMax).
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'observersPerPeerMax' }), 100 * 36);
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'observersMax' }), 100 * 64 + 2 - 1024);
  });

  it('keeps at most observersPerPeerMax registrations of one client endpoint, evicting its oldest', async () => {
    h = await virtualEndpointNode({ observersPerPeerMax: 8 });
    await put(h, 'k', 'v0');
    const wire = h.wire();
    for (let t = 0; t < 12; t += 1)
      await wire.send({ path: '/kv/k?stale', messageId: t + 1, token: token(t), observe: 0 });
    await h.run(10);
    await put(h, 'k', 'v1');
    const notified = Array.from({ length: 12 }, (_, t) => wire.withToken(token(t)).length);
    assert.deepEqual(
      notified,
      [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2],
      'the four oldest were evicted, the newest notified',
    );
    assert.equal(h.endpoint.observerCount(), 8);
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'observersPerPeerMax' }), 4);
  });

  it('deregisters an observer that answers a notification with RST', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v0');
    const wire = h.wire();
    await observe(h, wire, '/kv/k', token(1));
    await put(h, 'k', 'v1');
    const notification = wire.withToken(token(1))[1];
    assert.ok(notification !== undefined);
    assert.equal(notification.type, CoapType.NON);
    await wire.reply('rst', notification.messageId);
    await h.run(10);
    await put(h, 'k', 'v2');
    assert.deepEqual(
      wire.withToken(token(1)).map((m) => text(m.payload)),
      ['v0', 'v1'],
      'nothing after the RST',
    );
    assert.equal(h.endpoint.observerCount(), 0);
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'reset' }), 1);
  });

  it('sends every Nth notification confirmable and drops an observer that never acknowledges it', async () => {
    h = await virtualEndpointNode({ observeConfirmableEvery: 2, notifyAckTimeoutMs: 100, notifyRetransmitMax: 2 });
    await put(h, 'k', 'v0');
    const live = h.wire();
    const silent = h.wire();
    live.autoAck = true;
    await observe(h, silent, '/kv/k', token(1));
    await observe(h, live, '/kv/k', token(2));
    await put(h, 'k', 'v1');
    await put(h, 'k', 'v2');
    const types = silent
      .withToken(token(1))
      .slice(1)
      .map((m) => [text(m.payload), m.type]);
    assert.deepEqual(types.slice(0, 2), [
      ['v1', CoapType.NON],
      ['v2', CoapType.CON],
    ]);
    assert.equal(h.endpoint.observerCount(), 2, 'nobody is dropped before the retransmissions run out');
    await h.run(1000);
    assert.equal(
      silent.withToken(token(1)).filter((m) => text(m.payload) === 'v2').length,
      3,
      'the CON and two retransmissions',
    );
    assert.equal(h.endpoint.observerCount(), 1, 'the silent observer is dropped, the live one stays');
    assert.equal(h.metrics.count('endpoint_observers_dropped_total', { reason: 'unacknowledged' }), 1);
    assert.equal(h.metrics.count('coap_notifications_total', { server: 'endpoint', outcome: 'acknowledged' }), 1);
    assert.deepEqual(
      live.withToken(token(2)).map((m) => text(m.payload)),
      ['v0', 'v1', 'v2'],
    );
  });

  it('sends a notification confirmable once observeConfirmableIntervalMs passed without one', async () => {
    h = await virtualEndpointNode({ observeConfirmableEvery: 1000, observeConfirmableIntervalMs: 5_000 });
    await put(h, 'k', 'v0');
    const wire = h.wire();
    await observe(h, wire, '/kv/k', token(1));
    await put(h, 'k', 'v1');
    await h.run(5_000);
    await put(h, 'k', 'v2');
    assert.deepEqual(
      wire
        .withToken(token(1))
        .slice(1)
        .map((m) => m.type),
      [CoapType.NON, CoapType.CON],
    );
  });

  it('notifies a value over one block with its first Block2 block; a GET of block 1 gives the rest', async () => {
    h = await virtualEndpointNode();
    await put(h, 'big', 'a'.repeat(3000));
    const wire = h.wire();
    const block2 = (num: number): CoapOptionValue =>
      option(CoapOption.Block2, encodeBlock({ num, more: false, szx: 6 }));
    await wire.send({ path: '/kv/big', messageId: nextMessageId++, token: token(1), observe: 0, options: [block2(0)] });
    await h.run(100);
    // Once block 0 came, the observer takes the rest of the registration's answer, as libcoap does, before the value
    // changes (a request with the token of one in progress would be refused: tokens-in-progress.ts).
    for (const num of [1, 2])
      await wire.send({ path: '/kv/big', messageId: nextMessageId++, token: token(1), options: [block2(num)] });
    await h.run(100);
    assert.equal(wire.withToken(token(1)).length, 3, 'the three blocks of the registration answer');
    await put(h, 'big', 'b'.repeat(3000));
    const notification = wire.withToken(token(1))[3];
    assert.ok(notification !== undefined, 'a notification of the new value');
    // RFC 7959 §2.6: one block of a large representation, not the whole body in one datagram.
    assert.equal(notification.payload.length, 1024);
    assert.deepEqual(decodeBlockOption(notification, CoapOption.Block2), { num: 0, more: true, szx: 6 });
    assert.equal(decodeUint(firstOption(notification.options, CoapOption.Size2) ?? new Uint8Array(), 4), 3000);
    assert.ok(observeOf(notification) !== null);
    await wire.send({ path: '/kv/big', messageId: nextMessageId++, token: token(2), options: [block2(1)] });
    await h.run(100);
    const rest = wire.withToken(token(2))[0];
    assert.equal(text(rest?.payload ?? new Uint8Array()), 'b'.repeat(1024));
    assert.deepEqual(
      rest && firstOption(rest.options, CoapOption.ETag),
      firstOption(notification.options, CoapOption.ETag),
    );
    assert.equal(h.endpoint.observerCount(), 1);
  });

  it('tells the observers of every key its value after a snapshot restore, which applies no entry', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v0');
    await put(h, 'gone', 'v0');
    const wire = h.wire();
    await observe(h, wire, '/kv/k', token(1));
    await observe(h, wire, '/kv/gone', token(2));
    // A snapshot changes the state machine with no entry applied here: model it by changes the
    // endpoint does not hear of, then the restore.
    const onApply = h.endpoint.onApply.bind(h.endpoint);
    h.endpoint.onApply = (): void => undefined;
    await put(h, 'k', 'v1');
    const deleter = h.wire();
    await deleter.send({ method: 'DELETE', path: '/kv/gone', messageId: nextMessageId++, token: token(9) });
    await h.run(300);
    h.endpoint.onApply = onApply;
    assert.equal(wire.received.length, 2, 'no notification before the restore');
    h.endpoint.onSnapshotRestore();
    await h.run(100);
    const onKey = wire.withToken(token(1));
    assert.deepEqual(
      onKey.map((m) => text(m.payload)),
      ['v0', 'v1'],
    );
    assert.ok(observeOf(onKey[1] ?? onKey[0]!) !== null, 'a notification, the observation goes on');
    const last = wire.withToken(token(2)).at(-1);
    assert.equal(last?.code, CoapResponseCode.NotFound, 'a deleted key ends its observation');
    assert.equal(h.endpoint.observerCount(), 1);
  });

  it('answers Observe of a missing key with 4.04 at once, keeps no registration and names /watch?key=', async () => {
    h = await virtualEndpointNode();
    const wire = h.wire();
    const answer = await observe(h, wire, '/kv/later', token(1));
    assert.equal(answer.code, CoapResponseCode.NotFound);
    assert.equal(observeOf(answer), null, 'no Observe option: no observation (RFC 7641 §3.2)');
    assert.match(text(answer.payload), /\/watch\?key=later/);
    assert.equal(h.endpoint.observerCount(), 0);
    await put(h, 'later', 'now');
    assert.equal(wire.withToken(token(1)).length, 1, 'no notification follows');
    // A plain GET of a missing key keeps its short diagnostic.
    await wire.send({ path: '/kv/none', messageId: nextMessageId++, token: token(2) });
    await h.run(100);
    assert.equal(text(wire.withToken(token(2))[0]?.payload ?? new Uint8Array()), 'no such key');
  });

  it('ends the observations of a deleted key with a final 4.04 without Observe', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v0');
    const wire = h.wire();
    await observe(h, wire, '/kv/k', token(1));
    const deleter = h.wire();
    await deleter.send({ method: 'DELETE', path: '/kv/k', messageId: nextMessageId++, token: token(9) });
    await h.run(300);
    const last = wire.withToken(token(1)).at(-1);
    assert.equal(last?.code, CoapResponseCode.NotFound);
    assert.equal(last === undefined ? 0 : observeOf(last), null);
    assert.equal(h.endpoint.observerCount(), 0);
  });

  it('ends the observations of a key its lease took with it (revoke) with a final 4.04', async () => {
    h = await virtualEndpointNode();
    const granter = h.wire();
    const body = Buffer.from(JSON.stringify({ ttlMs: 60_000 }));
    await granter.send({ method: 'POST', path: '/lease', messageId: nextMessageId++, token: token(7), payload: body });
    await h.run(300);
    const { id } = JSON.parse(Buffer.from(granter.received[0]?.payload ?? []).toString('utf8')) as { id: number };
    await put(h, `k?lease=${id}`, 'v0');
    const wire = h.wire();
    const first = await observe(h, wire, '/kv/k', token(2));
    assert.equal(first.code, CoapResponseCode.Content);
    const revoker = h.wire();
    await revoker.send({ method: 'DELETE', path: `/lease/${id}`, messageId: nextMessageId++, token: token(8) });
    await h.run(300);
    const last = wire.withToken(token(2)).at(-1);
    assert.equal(last?.code, CoapResponseCode.NotFound);
    assert.equal(last === undefined ? 0 : observeOf(last), null);
    assert.equal(h.endpoint.observerCount(), 0);
  });

  it('ends every observation with a final 5.03 without Observe when the endpoint stops', async () => {
    h = await virtualEndpointNode();
    await put(h, 'k', 'v0');
    const wire = h.wire();
    await observe(h, wire, '/kv/k', token(4));
    await observe(h, wire, '/status', token(5));
    await observe(h, wire, '/watch?key=k', token(6));
    assert.equal(h.endpoint.observerCount(), 3);
    await h.endpoint.stop();
    await h.run(10);
    for (const t of [4, 5, 6]) {
      const last = wire.withToken(token(t)).at(-1);
      assert.equal(formatCode(last?.code ?? 0), '5.03', `the observation of token ${t} ended`);
      assert.equal(last === undefined ? 0 : observeOf(last), null);
      assert.match(text(last?.payload ?? new Uint8Array()), /stopping/);
    }
    assert.equal(h.endpoint.observerCount(), 0);
  });

  it('sets the /status check timer only while /status is observed', async () => {
    /** Counts the timers set with one delay (statusNotifyIntervalMs below, used by nothing else). */
    class CountingTimers extends VirtualTimers {
      statusChecks = 0;
      override setTimer(delayMs: number, callback: () => void): TimerHandle {
        if (delayMs === 777) this.statusChecks += 1;
        return super.setTimer(delayMs, callback);
      }
    }
    const timers = new CountingTimers();
    h = await virtualEndpointNode({ statusNotifyIntervalMs: 777 }, {}, timers);
    await h.run(10_000);
    assert.equal(timers.statusChecks, 0, 'no observer: no status check');
    const wire = h.wire();
    await observe(h, wire, '/status', token(3));
    await put(h, 'k', 'v1');
    await h.run(2_000);
    assert.ok(wire.withToken(token(3)).length >= 2, 'the observer was notified of the change');
    const whileObserved = timers.statusChecks;
    assert.ok(whileObserved >= 2, `status checks ran while observed (${whileObserved})`);
    await wire.send({ path: '/status', messageId: nextMessageId++, token: token(3), observe: 1 });
    await h.run(2_000);
    const afterCancel = timers.statusChecks;
    await h.run(10_000);
    assert.equal(timers.statusChecks, afterCancel, 'no status check after the last observer left');
  });
});
