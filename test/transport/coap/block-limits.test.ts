// Proves the server's bounds on hostile block-wise input and on notifications, byte by byte on
// the in-memory network with virtual time: a Block1 transfer holds one buffer of its own, and
// the store counts exactly its byteLength (preallocated from Size1, grown geometrically
// without it), never a view of a datagram; blocks below block1BytesMin get 4.13 with a Block1
// size hint while a one-block body of any size passes; a peer beyond blockTransfersPerPeerMax
// and a Size1 beyond blockBytesTotalMax get 5.03; an idle transfer is swept by a timer with no
// further traffic; a full table evicts an idle transfer for a newcomer, never a live one;
// every refusal is counted by its option's name (stats and metrics); and a
// confirmable notification ends acknowledged, reset, or timed out after its retransmissions,
// or goes non-confirmable when notificationsPendingMax is reached.
import { strict as assert } from 'node:assert';
import type { MetricDimensions, Metrics } from '../../../contracts/metrics.js';
import { CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import { decodeMessage } from '../../../transport/coap/message.js';
import { CoapServer } from '../../../transport/coap/server.js';
import {
  decodeBlock,
  decodeUint,
  encodeBlock,
  firstOption,
  option,
  uintOption,
} from '../../../transport/coap/options.js';
import { MemoryNetwork } from '../memory-datagram.js';
import { settle, VirtualTimers } from '../virtual-timers.js';
import { request, serverHarness, text } from './harness.js';

function block1(num: number, more: boolean, szx: number, tag: number) {
  return [
    option(CoapOption.Block1, encodeBlock({ num, more, szx })),
    option(CoapOption.RequestTag, Uint8Array.from([tag])),
  ];
}

/** Records every counter increment. */
class RecordingMetrics implements Metrics {
  readonly counts: string[] = [];
  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    for (let i = 0; i < count; i += 1) this.counts.push(`${name}${JSON.stringify(dimensions)}`);
  }
  setGauge(): void {}
  observe(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

const upload = {
  POST: (r: { payload: Uint8Array }) =>
    Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(String(r.payload.length)) }),
};

describe('CoAP server limits on hostile input', () => {
  it('counts what a Block1 transfer holds: its buffer, preallocated from Size1 or grown geometrically', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', upload);
    // Without Size1: room for four 64-byte blocks, then doubling.
    for (let num = 0; num < 5; num += 1)
      await h.send(
        request({
          messageId: num + 1,
          token: Uint8Array.from([1]),
          options: block1(num, true, 2, 1),
          payload: new Uint8Array(64).fill(num),
        }),
      );
    let stats = h.server.blockStats();
    assert.equal(stats.block1Transfers, 1);
    assert.equal(stats.block1HeldBytes, 512, 'four blocks of room, doubled when the fifth came');
    assert.equal(stats.block1BufferBytes, stats.block1HeldBytes, 'the count is the byteLength of the buffers held');
    // With Size1: exactly the announced size, at once.
    await h.send(
      request({
        messageId: 10,
        token: Uint8Array.from([2]),
        options: [...block1(0, true, 6, 2), uintOption(CoapOption.Size1, 5000)],
        payload: new Uint8Array(1024),
      }),
    );
    stats = h.server.blockStats();
    assert.equal(stats.block1HeldBytes, 512 + 5000);
    assert.equal(stats.block1BufferBytes, stats.block1HeldBytes);
    // The bodies come out whole, and the store holds nothing afterwards.
    await h.send(
      request({
        messageId: 11,
        token: Uint8Array.from([1]),
        options: block1(5, false, 2, 1),
        payload: new Uint8Array(10),
      }),
    );
    for (let num = 1; num < 5; num += 1)
      await h.send(
        request({
          messageId: 11 + num,
          token: Uint8Array.from([2]),
          options: block1(num, num < 4, 6, 2),
          payload: new Uint8Array(num < 4 ? 1024 : 904),
        }),
      );
    assert.deepEqual(
      h.received.filter((m) => m.code === CoapResponseCode.Changed).map((m) => text(m.payload)),
      ['330', '5000'],
    );
    assert.deepEqual(h.server.blockStats(), {
      block1Transfers: 0,
      block1HeldBytes: 0,
      block1BufferBytes: 0,
      block2Bodies: 0,
      block2HeldBytes: 0,
      notificationsPending: 0,
    });
  });

  it('answers blocks under block1BytesMin with 4.13 and a Block1 hint; takes a lone block of any size', async () => {
    const h = await serverHarness({ block1BytesMin: 512 });
    h.server.addResource('/raft/AppendEntries', upload);
    await h.send(request({ messageId: 1, options: block1(0, true, 0, 1), payload: new Uint8Array(16) }));
    await h.send(request({ messageId: 2, options: block1(3, false, 0, 1), payload: new Uint8Array(16) }));
    await h.send(request({ messageId: 3, options: block1(0, false, 0, 2), payload: new Uint8Array(9) }));
    await h.send(request({ messageId: 4, options: block1(0, true, 5, 3), payload: new Uint8Array(512) }));
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['4.13', '4.13', '2.04', '2.31'],
    );
    const hint = h.received[0];
    assert.deepEqual(decodeBlock(firstOption(hint?.options ?? [], CoapOption.Block1) ?? new Uint8Array()), {
      num: 0,
      more: false,
      szx: 5,
    });
    assert.equal(
      decodeUint(firstOption(hint?.options ?? [], CoapOption.Size1) ?? new Uint8Array(), 4),
      8 * 1024 * 1024,
    );
    assert.match(text(hint?.payload ?? new Uint8Array()), /at least 512 bytes \(block1BytesMin\)/);
    assert.equal(h.server.stats.limitRefusals['block1BytesMin'], 2);
    assert.equal(h.server.blockStats().block1Transfers, 1);
  });

  it('refuses a peer over blockTransfersPerPeerMax, a Size1 over blockBytesTotalMax: 5.03, counted', async () => {
    const network = new MemoryNetwork();
    const timers = new VirtualTimers();
    const metrics = new RecordingMetrics();
    const serverEndpoint = network.open('10.0.0.1');
    const server = new CoapServer(
      { openEndpoint: () => Promise.resolve(serverEndpoint), timers, metrics, name: 'test' },
      { blockTransfersPerPeerMax: 2, bodyBytesMax: 64 * 1024, blockBytesTotalMax: 64 * 1024 },
    );
    server.addResource('/up', upload);
    await server.start();
    const codes: string[][] = [[], []];
    const maxAges: (number | null)[] = [];
    const peers = [network.open('10.0.0.2'), network.open('10.0.0.3')];
    peers.forEach((peer, i) =>
      peer.onMessage((data) => {
        codes[i]?.push(formatCode(data[1] ?? 0));
        const decoded = decodeMessage(data);
        const maxAge = decoded.ok ? firstOption(decoded.message.options, CoapOption.MaxAge) : null;
        if (data[1] === CoapResponseCode.ServiceUnavailable)
          maxAges.push(maxAge === null ? null : decodeUint(maxAge, 4));
      }),
    );
    const send = async (peer: number, tag: number, size1: number | null): Promise<void> => {
      const options = [...block1(0, true, 6, tag), ...(size1 === null ? [] : [uintOption(CoapOption.Size1, size1)])];
      await peers[peer]?.send(
        request({
          messageId: tag,
          token: Uint8Array.from([tag]),
          path: '/up',
          options,
          payload: new Uint8Array(1024),
        }),
        serverEndpoint.address,
        serverEndpoint.port,
      );
      await settle();
    };
    await send(0, 1, null);
    await send(0, 2, null);
    await send(0, 3, null);
    await send(1, 4, null);
    await send(1, 5, 60 * 1024);
    assert.deepEqual(codes, [
      ['2.31', '2.31', '5.03'],
      ['2.31', '5.03'],
    ]);
    // RFC 7252 §5.9.3.4: Max-Age says when to retry; without it a client would wait its default 60 s.
    assert.deepEqual(maxAges, [1, 1], 'each 5.03 refusal carries Max-Age 1');
    assert.deepEqual(metrics.counts, [
      'coap_limit_refusals_total{"server":"test","limit":"blockTransfersPerPeerMax"}',
      'coap_limit_refusals_total{"server":"test","limit":"blockBytesTotalMax"}',
    ]);
    assert.equal(server.blockStats().block1HeldBytes, 3 * 4096);
    await server.stop();
  });

  it('evicts the oldest idle transfer of the peer holding the most for a newcomer, never a live one', async () => {
    const network = new MemoryNetwork();
    const timers = new VirtualTimers();
    const metrics = new RecordingMetrics();
    const serverEndpoint = network.open('10.0.0.1');
    const server = new CoapServer(
      { openEndpoint: () => Promise.resolve(serverEndpoint), timers, metrics, name: 'test' },
      { blockTransfersMax: 8, blockTransfersPerPeerMax: 2, bodyBytesMax: 64 * 1024, blockBytesTotalMax: 64 * 1024 },
    );
    server.addResource('/up', upload);
    await server.start();
    // Every client on one address, each from its own port: the local endpoint's case.
    const answers = new Map<number, string[]>();
    const clients = Array.from({ length: 17 }, () => {
      const endpoint = network.open('127.0.0.1');
      const seen: string[] = [];
      answers.set(endpoint.port, seen);
      endpoint.onMessage((data) => seen.push(formatCode(data[1] ?? 0)));
      return endpoint;
    });
    let messageId = 0;
    const send = async (client: number, num: number, more: boolean, size1: number | null = null): Promise<string> => {
      const endpoint = clients[client];
      assert.ok(endpoint !== undefined);
      messageId += 1;
      const options = [...block1(num, more, 6, 1), ...(size1 === null ? [] : [uintOption(CoapOption.Size1, size1)])];
      const data = request({ messageId, path: '/up', options, payload: new Uint8Array(1024) });
      await endpoint.send(data, serverEndpoint.address, serverEndpoint.port);
      await settle();
      return answers.get(endpoint.port)?.at(-1) ?? 'none';
    };
    // Clients 0..6 send a first block and vanish; client 7 uploads slowly, a block every 3 s.
    for (let client = 0; client < 8; client += 1) assert.equal(await send(client, 0, true), '2.31');
    assert.equal(await send(8, 0, true), '5.03', 'nothing is idle yet: the newcomer is refused');
    await timers.advance(3000);
    assert.equal(await send(7, 1, true), '2.31');
    await timers.advance(2000);
    // 5 s on: the seven abandoned transfers are idle; seven newcomers take their slots, oldest first.
    for (let client = 8; client < 15; client += 1) assert.equal(await send(client, 0, true), '2.31');
    assert.equal(await send(15, 0, true), '5.03', 'the live upload and the fresh ones are not evicted');
    assert.equal(await send(7, 2, false), '2.04', 'the slow upload completes');
    assert.equal(await send(0, 1, true), '4.08', 'an evicted transfer is gone');
    assert.equal(metrics.counts.filter((c) => c.startsWith('coap_block_transfers_evicted_total')).length, 7);
    // Bytes: two uploads announcing 32 KiB (Size1) hold every byte; a later one evicts the older when idle.
    await timers.advance(31_000);
    assert.equal(await send(0, 0, true, 32 * 1024), '2.31');
    assert.equal(await send(1, 0, true, 32 * 1024), '2.31');
    assert.equal(await send(16, 0, true, 32 * 1024), '5.03');
    await timers.advance(4000);
    assert.equal(await send(16, 0, true, 32 * 1024), '2.31');
    assert.equal(await send(0, 1, true), '4.08');
    assert.equal(await send(1, 1, true), '2.31');
    await server.stop();
  });

  it('sweeps an idle transfer on a timer, with no further traffic', async () => {
    const h = await serverHarness({ blockTransferLifetimeMs: 1000 });
    h.server.addResource('/raft/AppendEntries', upload);
    await h.send(request({ messageId: 1, options: block1(0, true, 6, 1), payload: new Uint8Array(1024) }));
    assert.equal(h.server.blockStats().block1Transfers, 1);
    await h.timers.advance(999);
    assert.equal(h.server.blockStats().block1Transfers, 1);
    await h.timers.advance(250);
    assert.deepEqual([h.server.blockStats().block1Transfers, h.server.blockStats().block1HeldBytes], [0, 0]);
    assert.equal(h.timers.pendingCount, 0, 'no sweep timer runs while nothing is held');
  });

  it('ends a confirmable notification acked, reset, or timed out after notifyRetransmitMax resends', async () => {
    const h = await serverHarness({ notifyAckTimeoutMs: 100, notifyRetransmitMax: 2 });
    const peer = { address: h.wire.address, port: h.wire.port, identity: null };
    const notification = { code: CoapResponseCode.Content, observe: 3, payload: Buffer.from('n') };
    const reply = (type: CoapType, messageId: number): Uint8Array =>
      Uint8Array.from([0x40 | (type << 4), 0, messageId >> 8, messageId & 0xff]);

    const acked = await h.server.notify(peer, Uint8Array.from([1]), notification, true);
    await h.send(reply(CoapType.ACK, acked.messageId));
    assert.equal(await acked.outcome, 'acknowledged');
    const reset = await h.server.notify(peer, Uint8Array.from([2]), notification, true);
    await h.send(reply(CoapType.RST, reset.messageId));
    assert.equal(await reset.outcome, 'reset');
    const silent = await h.server.notify(peer, Uint8Array.from([3]), notification, true);
    let outcome: string | null = null;
    void silent.outcome.then((o) => (outcome = o));
    await h.timers.advance(699);
    assert.equal(outcome, null);
    await h.timers.advance(1);
    assert.equal(outcome, 'timeout');
    const sent = h.received.filter((m) => m.messageId === silent.messageId);
    assert.equal(sent.length, 3, 'the first transmission and two retransmissions');
    assert.ok(sent.every((m) => m.type === CoapType.CON));
    assert.equal(h.server.blockStats().notificationsPending, 0);
  });

  it('sends a notification non-confirmable when notificationsPendingMax are waiting', async () => {
    const h = await serverHarness({ notificationsPendingMax: 1 });
    const peer = { address: h.wire.address, port: h.wire.port, identity: null };
    const first = await h.server.notify(peer, Uint8Array.from([1]), { code: CoapResponseCode.Content }, true);
    const second = await h.server.notify(peer, Uint8Array.from([2]), { code: CoapResponseCode.Content }, true);
    await h.send(new Uint8Array(0));
    assert.deepEqual([first.confirmable, second.confirmable], [true, false]);
    assert.equal(await second.outcome, 'sent');
    assert.deepEqual(
      h.received.map((m) => m.type),
      [CoapType.CON, CoapType.NON],
    );
    assert.equal(h.server.stats.limitRefusals['notificationsPendingMax'], 1);
    await h.server.stop();
    assert.equal(await first.outcome, 'stopped');
  });
});
