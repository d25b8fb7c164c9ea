// Proves our DTLS client and server against each other on loopback: data both ways with the
// authenticated identity, many concurrent sessions, handshake fragmentation, wrong keys and
// unknown or revoked identities failing with NET_AUTH, a silent server failing with
// NET_TIMEOUT after the retransmissions (virtual clock), close_notify, idle expiry (virtual
// clock), a restarted server being noticed, and the size and queue limits; `post` (no promise)
// delivers the same and reports each failure a send would reject with to its onFailure. Each
// record's data arrives in a buffer of its own that later records leave alone (the
// DatagramHandler contract behind InboundContext.bytesOwned). Dual-stack [::] sockets reach IPv4
// peers and know them by their IPv4 address; a socket that cannot reach a family refuses it; a
// host name is bound at its address of either family.
import { strict as assert } from 'node:assert';
import { NetworkError } from '../../../contracts/errors.js';
import { familyMismatch, isDualStack, systemBindsV6Only } from '../../../transport/address-family.js';
import { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import { resolveServerOptions } from '../../../transport/dtls/server-options.js';
import { resolveClientOptions } from '../../../transport/dtls/client-options.js';
import type { DtlsServerOptions } from '../../../transport/dtls/server-options.js';
import type { SessionReplacement } from '../../../transport/dtls/options.js';
import { ManualTimers } from './fake-timers.js';
import {
  Cleanup,
  Inbox,
  LossyRelay,
  echo,
  internalErrors,
  plaintextHandshakes,
  startClient,
  startServer,
  until,
} from './helpers.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('correct horse battery staple');
const keys = new Map<string, Uint8Array>([
  ['node-a', key],
  ['node-b', Buffer.from('another key')],
]);
const lookup = (id: string): Uint8Array | null => keys.get(id) ?? null;

/** Closes an endpoint's socket behind its back: the process died without a word to peers. */
function crash(endpoint: object): Promise<void> {
  const socket = (endpoint as { socket: { close(cb: () => void): void } }).socket;
  return new Promise((resolve) => socket.close(resolve));
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof NetworkError && e.code === code);
}

describe('DTLS client and server endpoints', function () {
  this.timeout(scaledMs(20_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('exchanges data both ways and reports the authenticated identity', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const seen: string[] = [];
    server.onMessage((data, peer) => {
      seen.push(`${peer.identity}:${Buffer.from(data).toString()}`);
      void server.send(Buffer.from('pong'), peer.address, peer.port);
    });
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    const { port } = server.localAddress();
    await client.send(Buffer.from('ping'), '127.0.0.1', port);
    await inbox.waitFor('pong');
    assert.deepEqual(seen, ['node-a:ping']);
    assert.deepEqual(
      server.sessionList().map((s) => s.identity),
      ['node-a'],
    );
    const stats = server.stats();
    assert.equal(stats.handshakesCompleted, 1);
    assert.equal(stats.helloVerifyRequestsSent, 1);
    assert.equal(stats.sessions, 1);
  });

  it("gives each record's data a buffer of its own that later records leave alone", async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const sizes = [3000, 12_000, 100, 3000];
    const arrived: Uint8Array[] = [];
    const all = new Promise<void>((resolve) =>
      server.onMessage((data) => {
        arrived.push(data);
        if (arrived.length === sizes.length) resolve();
      }),
    );
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const { port } = server.localAddress();
    for (const [i, size] of sizes.entries()) await client.send(new Uint8Array(size).fill(i + 1), '127.0.0.1', port);
    await all;
    assert.equal(new Set(arrived.map((d) => d.buffer)).size, sizes.length);
    for (const [i, data] of arrived.entries()) {
      assert.equal(data.byteLength, sizes[i]);
      assert.ok(data.buffer.byteLength <= data.byteLength + 64, 'a buffer of this record alone');
      assert.ok(
        data.every((byte) => byte === i + 1),
        'unchanged by the records after it',
      );
    }
  });

  it('serves many concurrent sessions, and one client keeps a session per server', async () => {
    // Twenty clients share each identity here: room for all of them, not a member's share.
    const server = await startServer(cleanup, { pskLookup: lookup, sessionsPerIdentityMax: 20 });
    const second = await startServer(cleanup, { pskLookup: lookup, sessionsPerIdentityMax: 20 });
    echo(server);
    echo(second);
    const clients = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        startClient(cleanup, {
          identity: i % 2 === 0 ? 'node-a' : 'node-b',
          psk: keys.get(i % 2 === 0 ? 'node-a' : 'node-b') ?? key,
        }),
      ),
    );
    await Promise.all(
      clients.map(async (client, i) => {
        const inbox = new Inbox(client);
        const id = i % 2 === 0 ? 'node-a' : 'node-b';
        await client.send(Buffer.from(`m${i}`), '127.0.0.1', server.localAddress().port);
        await client.send(Buffer.from(`n${i}`), '127.0.0.1', second.localAddress().port);
        await inbox.waitFor(`${id}:m${i}`);
        await inbox.waitFor(`${id}:n${i}`);
      }),
    );
    assert.equal(server.stats().sessions, 40);
    assert.equal(second.stats().sessions, 40);
    assert.equal(clients[0]?.stats().sessions, 2);
  });

  it('fragments handshake messages to fit a small MTU and reassembles them', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, handshakeDatagramBytesMax: 100 });
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, handshakeDatagramBytesMax: 100 });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('small mtu'), '127.0.0.1', server.localAddress().port);
    await inbox.waitFor('node-a:small mtu');
    assert.ok(client.stats().datagramsSent > 4, 'the flights were split over several datagrams');
  });

  it('sends a PSK identity hint (ServerKeyExchange) only when configured; handshakes complete anyway', async () => {
    for (const hint of ['coraft', null]) {
      const server = await startServer(cleanup, { pskLookup: lookup, pskIdentityHint: hint });
      echo(server);
      const relay = await LossyRelay.start(cleanup, server.localAddress().port, () => false);
      const client = await startClient(cleanup, { identity: 'node-a', psk: key });
      const inbox = new Inbox(client);
      await client.send(Buffer.from('hinted'), '127.0.0.1', relay.port());
      await inbox.waitFor('node-a:hinted');
      assert.deepEqual(
        server.sessionList().map((s) => s.identity),
        ['node-a'],
      );
      // ServerKeyExchange (type 12) carries the hint as a psk_identity_hint<0..2^16-1> (RFC 4279 §2).
      const keyExchanges = relay.forwardedDown.flatMap(plaintextHandshakes).filter((m) => m.type === 12);
      if (hint === null) {
        assert.deepEqual(keyExchanges, [], 'no ServerKeyExchange without a hint');
      } else {
        assert.ok(keyExchanges.length > 0, 'the server sent a ServerKeyExchange');
        for (const m of keyExchanges)
          assert.equal(
            m.body.toString('hex'),
            Buffer.concat([Buffer.from([0, hint.length]), Buffer.from(hint)]).toString('hex'),
          );
      }
    }
  });

  it('fails with NET_AUTH on a wrong key or unknown identity and keeps serving others', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const { port } = server.localAddress();
    const wrongKey = await startClient(cleanup, { identity: 'node-a', psk: Buffer.from('not the key') });
    await rejectsWith(wrongKey.send(Buffer.from('x'), '127.0.0.1', port), 'NET_AUTH');
    const unknown = await startClient(cleanup, { identity: 'stranger', psk: key });
    await rejectsWith(unknown.send(Buffer.from('x'), '127.0.0.1', port), 'NET_AUTH');
    const good = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(good);
    await good.send(Buffer.from('still here'), '127.0.0.1', port);
    await inbox.waitFor('node-a:still here');
    assert.equal(server.stats().handshakesFailed, 2);
    assert.equal(server.stats().handshakesAuthFailed, 2, 'both failed authentication');
    assert.equal(server.stats().handshakesInProgress, 0);
  });

  it('fails with NET_TIMEOUT once the retransmissions run out (virtual clock)', async () => {
    const timers = new ManualTimers();
    const silent = await startServer(cleanup, { pskLookup: lookup });
    const port = silent.localAddress().port;
    await silent.close();
    const client = await startClient(
      cleanup,
      { identity: 'node-a', psk: key, retransmitInitialMs: 100, retransmitMaxMs: 400, retransmitCountMax: 3 },
      { timers },
    );
    const sent = client.send(Buffer.from('x'), '127.0.0.1', port);
    const failed = rejectsWith(sent, 'NET_TIMEOUT');
    // 100 + 200 + 400 + 400 ms of timers, each with at most 1/8 of jitter.
    timers.advance(1000);
    assert.equal(client.stats().retransmissions, 3);
    timers.advance(1000);
    await failed;
    assert.equal(client.stats().handshakesFailed, 1);
    assert.equal(client.stats().handshakesAuthFailed, 0, 'a timeout is not an authentication failure');
  });

  it('closes with close_notify both ways', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('hi'), '127.0.0.1', server.localAddress().port);
    await inbox.waitFor('node-a:hi');
    await client.close();
    await until(() => server.stats().sessions === 0, 'server to drop the closed session');
    assert.ok(server.stats().alertsReceived >= 1);
  });

  it('expires idle sessions and handshakes again afterwards (virtual clock)', async () => {
    const timers = new ManualTimers();
    const server = await startServer(cleanup, { pskLookup: lookup, sessionIdleTimeoutMs: 10_000 }, { timers });
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    const { port } = server.localAddress();
    await client.send(Buffer.from('one'), '127.0.0.1', port);
    await inbox.waitFor('node-a:one');
    timers.advance(9_000);
    assert.equal(server.stats().sessions, 1);
    timers.advance(5_000);
    assert.equal(server.stats().sessions, 0);
    assert.equal(server.stats().sessionsExpired, 1);
    await until(() => !client.hasSession('127.0.0.1', port), 'client to receive close_notify');
    await client.send(Buffer.from('two'), '127.0.0.1', port);
    await inbox.waitFor('node-a:two');
    assert.equal(client.stats().handshakesCompleted, 2);
  });

  it('notices a restarted server through its alert and handshakes again; resetSession forces it', async () => {
    const first = await startServer(cleanup, { pskLookup: lookup });
    const { port } = first.localAddress();
    echo(first);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('a'), '127.0.0.1', port);
    await inbox.waitFor('node-a:a');
    // Simulate a crash: the server loses its state without sending close_notify.
    await crash(first);
    const restarted = await DtlsServerEndpoint.listen({ host: '127.0.0.1', port, pskLookup: lookup });
    cleanup.add(() => restarted.close());
    echo(restarted);
    await client.send(Buffer.from('lost'), '127.0.0.1', port);
    await until(() => !client.hasSession('127.0.0.1', port), 'client to take the alert as a lost session');
    assert.equal(restarted.stats().dropped.unknownSession, 1);
    await client.send(Buffer.from('b'), '127.0.0.1', port);
    await inbox.waitFor('node-a:b');
    assert.ok(client.resetSession('127.0.0.1', port));
    assert.ok(!client.resetSession('127.0.0.1', port));
    await client.send(Buffer.from('c'), '127.0.0.1', port);
    await inbox.waitFor('node-a:c');
    assert.equal(client.stats().handshakesCompleted, 3);
  });

  it('refuses revoked identities for new handshakes and closes their sessions on request', async () => {
    const revoked = new Set<string>();
    const server = await startServer(cleanup, { pskLookup: (id) => (revoked.has(id) ? null : lookup(id)) });
    echo(server);
    const { port } = server.localAddress();
    const a = await startClient(cleanup, { identity: 'node-a', psk: key });
    const b = await startClient(cleanup, { identity: 'node-b', psk: keys.get('node-b') ?? key });
    await Promise.all([a.connect('127.0.0.1', port), b.connect('127.0.0.1', port)]);
    revoked.add('node-a');
    assert.equal(server.stats().sessions, 2, 'revocation alone leaves established sessions');
    assert.equal(server.closeSessionsOf('node-a'), 1);
    assert.deepEqual(
      server.sessionList().map((s) => s.identity),
      ['node-b'],
    );
    await until(() => !a.hasSession('127.0.0.1', port), 'node-a to receive close_notify');
    await rejectsWith(a.send(Buffer.from('x'), '127.0.0.1', port), 'NET_AUTH');
  });

  it('applies a changed key to the next handshake', async () => {
    const table = new Map<string, Uint8Array>([['node-a', key]]);
    const server = await startServer(cleanup, { pskLookup: (id) => table.get(id) ?? null });
    const { port } = server.localAddress();
    table.set('node-a', Buffer.from('rotated key'));
    const stale = await startClient(cleanup, { identity: 'node-a', psk: key });
    await rejectsWith(stale.connect('127.0.0.1', port), 'NET_AUTH');
    const fresh = await startClient(cleanup, { identity: 'node-a', psk: Buffer.from('rotated key') });
    await fresh.connect('127.0.0.1', port);
    assert.equal(server.stats().sessions, 1);
  });

  it('replaces a session when its address starts a new handshake (client restart on the same port)', async () => {
    const replaced: SessionReplacement[] = [];
    const server = await startServer(cleanup, { pskLookup: lookup }, { onSessionReplaced: (r) => replaced.push(r) });
    echo(server);
    const { port } = server.localAddress();
    const before = await startClient(cleanup, { identity: 'node-a', psk: key });
    await before.connect('127.0.0.1', port);
    const clientPort = before.localAddress().port;
    await crash(before);
    const after = await startClient(cleanup, {
      identity: 'node-b',
      psk: keys.get('node-b') ?? key,
      bindPort: clientPort,
    });
    const inbox = new Inbox(after);
    await after.send(Buffer.from('again'), '127.0.0.1', port);
    await inbox.waitFor('node-b:again');
    assert.deepEqual(
      server.sessionList().map((s) => [s.port, s.identity]),
      [[clientPort, 'node-b']],
    );
    assert.deepEqual(replaced, [], "another identity's session is not its own to report");
    await crash(after);
    const again = await startClient(cleanup, {
      identity: 'node-b',
      psk: keys.get('node-b') ?? key,
      bindPort: clientPort,
    });
    await again.connect('127.0.0.1', port);
    const place = { address: '127.0.0.1', port: clientPort };
    assert.deepEqual(replaced, [{ identity: 'node-b', reason: 'address', previous: place, next: place }]);
  });

  it('refuses at once, naming both, a send to an address its socket family cannot reach', async () => {
    const v6 = await startClient(cleanup, { identity: 'node-a', psk: key, bindAddress: '::1' });
    await assert.rejects(v6.send(Buffer.from('x'), '127.0.0.1', 5684), {
      code: 'NET_ADDRESS',
      message: /IPv6 \(bound to ::1\) and cannot send to the IPv4 address 127\.0\.0\.1:5684/,
    });
    const v4 = await startClient(cleanup, { identity: 'node-a', psk: key });
    await assert.rejects(v4.send(Buffer.from('x'), '::1', 5684), {
      code: 'NET_ADDRESS',
      message: /IPv4 \(bound to 127\.0\.0\.1\) and cannot send to the IPv6 address \[::1\]:5684/,
    });
    assert.equal(v6.stats().handshakesInProgress + v4.stats().handshakesInProgress, 0, 'no handshake was started');
  });

  it('reaches IPv4 peers over dual-stack [::] sockets and knows them by their IPv4 address', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, host: '::' });
    const seen: string[] = [];
    server.onMessage((data, peer) => {
      seen.push(`${peer.address}:${Buffer.from(data).toString()}`);
      void server.send(Buffer.from('pong'), peer.address, peer.port);
    });
    // An IPv4 client to the [::] server, then a [::] client to it: each side sees 127.0.0.1.
    for (const bindAddress of ['127.0.0.1', '::']) {
      const client = await startClient(cleanup, { identity: 'node-a', psk: key, bindAddress });
      const inbox = new Inbox(client);
      await client.send(Buffer.from(bindAddress), '127.0.0.1', server.localAddress().port);
      await inbox.waitFor('pong'); // the client took the answer from ::ffff:127.0.0.1 as 127.0.0.1's
    }
    assert.deepEqual(seen, ['127.0.0.1:127.0.0.1', '127.0.0.1:::']);
    assert.deepEqual(
      server.sessionList().map((s) => s.address),
      ['127.0.0.1', '127.0.0.1'],
    );
  });

  it('binds a host name where it resolves, of either family (a name of ::1 alone binds ::1)', async () => {
    const resolveHost = (host: string): Promise<string> =>
      host === 'gw.test' ? Promise.resolve('::1') : Promise.reject(new Error(`no ${host}`));
    const server = await startServer(cleanup, { pskLookup: lookup, host: 'gw.test' }, { resolveHost });
    assert.equal(server.localAddress().address, '::1');
    server.onMessage((_data, peer) => void server.send(Buffer.from('pong'), peer.address, peer.port));
    const client = await startClient(
      cleanup,
      { identity: 'node-a', psk: key, bindAddress: 'gw.test' },
      { resolveHost },
    );
    assert.equal(client.localAddress().address, '::1');
    const inbox = new Inbox(client);
    await client.send(Buffer.from('ping'), '::1', server.localAddress().port);
    await inbox.waitFor('pong');
    await assert.rejects(client.send(Buffer.from('x'), '127.0.0.1', 5684), {
      code: 'NET_ADDRESS',
      message: /IPv6 \(bound to ::1\) and cannot send to the IPv4 address 127\.0\.0\.1:5684/,
    });
  });

  it('tells dual-stack sockets from IPv6-only ones, and refuses IPv4 from these', () => {
    assert.equal(isDualStack('::', false), true);
    assert.equal(isDualStack('0:0::0', false), true);
    assert.equal(isDualStack('::', true), false, 'net.ipv6.bindv6only = 1');
    assert.equal(isDualStack('::1', false), false);
    assert.equal(isDualStack('0.0.0.0', false), false);
    assert.equal(familyMismatch('::', '127.0.0.1', 1, true) === null, !systemBindsV6Only());
    assert.match(familyMismatch('::1', '127.0.0.1', 1, true) ?? '', /IPv6 \(bound to ::1\) and cannot send/);
  });

  it('rejects oversized datagrams, full queues, and sends without a session', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const { port } = server.localAddress();
    const client = await startClient(cleanup, {
      identity: 'node-a',
      psk: key,
      applicationDataBytesMax: 100,
      queuedDatagramsMax: 2,
    });
    await rejectsWith(client.send(new Uint8Array(101), '127.0.0.1', port), 'NET_TOO_LARGE');
    const queued = [client.send(Buffer.from('1'), '127.0.0.1', port), client.send(Buffer.from('2'), '127.0.0.1', port)];
    await rejectsWith(client.send(Buffer.from('3'), '127.0.0.1', port), 'NET_UNREACHABLE');
    await Promise.all(queued);
    await rejectsWith(server.send(Buffer.from('x'), '127.0.0.1', 9), 'NET_UNREACHABLE');
  });

  it('posts without a promise both ways, giving each failure send would reject with to its onFailure', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, applicationDataBytesMax: 100 });
    const { port } = server.localAddress();
    const failures: [string, string][] = [];
    const onFailure =
      (who: string) =>
      (error: Error): void =>
        void failures.push([who, Reflect.get(error, 'code')]);
    server.onMessage((data, peer) => {
      // The answer to the datagram queued behind the handshake, and a refused oversized one.
      server.post(Buffer.concat([Buffer.from('re:'), data]), peer.address, peer.port, onFailure('answer'));
      server.post(new Uint8Array(101), peer.address, peer.port, onFailure('server oversized'));
    });
    const client = await startClient(cleanup, {
      identity: 'node-a',
      psk: key,
      applicationDataBytesMax: 100,
      queuedDatagramsMax: 1,
    });
    const inbox = new Inbox(client);
    client.post(new Uint8Array(101), '127.0.0.1', port, onFailure('client oversized'));
    client.post(Buffer.from('1'), '127.0.0.1', port, onFailure('queued'));
    client.post(Buffer.from('2'), '127.0.0.1', port, onFailure('queue full'));
    await inbox.waitFor('re:1');
    client.post(Buffer.from('3'), '127.0.0.1', port, onFailure('established'));
    await inbox.waitFor('re:3');
    server.post(Buffer.from('x'), '127.0.0.1', 9, onFailure('no session'));
    await client.close();
    client.post(Buffer.from('4'), '127.0.0.1', port, onFailure('closed'));
    assert.deepEqual(failures, [
      ['client oversized', 'NET_TOO_LARGE'],
      ['queue full', 'NET_UNREACHABLE'],
      ['server oversized', 'NET_TOO_LARGE'],
      ['server oversized', 'NET_TOO_LARGE'],
      ['no session', 'NET_UNREACHABLE'],
      ['closed', 'NET_UNREACHABLE'],
    ]);
  });

  it('fails a send on a socket closed under it with NET_UNREACHABLE, and still closes', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const { port } = server.localAddress();
    await client.send(Buffer.from('ping'), '127.0.0.1', port);
    // node:dgram throws on a closed socket until its 'close' event: each way of sending must
    // fail without leaving a send counted, or close() would wait for it forever.
    const failures: string[] = [];
    const closed = crash(client);
    const sent = client.send(Buffer.from('after'), '127.0.0.1', port);
    client.post(Buffer.from('after'), '127.0.0.1', port, (error) => failures.push(Reflect.get(error, 'code')));
    await rejectsWith(sent, 'NET_UNREACHABLE');
    await closed;
    await client.close();
    assert.deepEqual(failures, ['NET_UNREACHABLE']);
  });

  it('works over IPv6 loopback', async function () {
    const server = await DtlsServerEndpoint.listen({ host: '::1', port: 0, pskLookup: lookup }).catch(() => null);
    if (server === null) this.skip();
    cleanup.add(() => server.close());
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, bindAddress: '::1' });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('six'), '::1', server.localAddress().port);
    await inbox.waitFor('node-a:six');
    assert.deepEqual(inbox.received, ['node-a:six']);
    assert.equal(client.localAddress().address, '::1');
    assert.deepEqual(server.sessionList(), [{ address: '::1', port: client.localAddress().port, identity: 'node-a' }]);
    assert.ok(
      client.hasSession('::1', server.localAddress().port),
      'the client keeps its session under the IPv6 address',
    );
  });

  it('validates options, naming every bad field', async () => {
    await assert.rejects(
      DtlsServerEndpoint.listen({ port: 70_000, pskLookup: lookup, sessionsMax: 0, retransmitInitialMs: 5 }),
      (e: unknown) => e instanceof Error && 'problems' in e && Array.isArray(e.problems) && e.problems.length === 3,
    );
    // The half-open handshake limits: each named with its range, the per-address cap and the
    // members' reserve bounded by the total, the client-flight timeout by the handshake's.
    const problems = (options: Partial<DtlsServerOptions>): string[] => {
      try {
        resolveServerOptions({ pskLookup: lookup, ...options });
        return [];
      } catch (e: unknown) {
        return e instanceof Error && 'problems' in e && Array.isArray(e.problems)
          ? e.problems.map(String)
          : [String(e)];
      }
    };
    assert.deepEqual(
      problems({
        handshakesInProgressMax: 8,
        handshakesInProgressPerAddressMax: 9,
        handshakesReservedForMembers: 8,
        handshakesInProgressBytesMax: 1000,
        clientFlightTimeoutMs: 50,
      }),
      [
        'handshakesInProgressPerAddressMax must be an integer in 1..8 (got 9)',
        'handshakesReservedForMembers must be an integer in 0..7 (got 8)',
        'handshakesInProgressBytesMax must be an integer in 65536..1073741824 (got 1000)',
        'clientFlightTimeoutMs must be an integer in 100..30000 (got 50)',
      ],
    );
    assert.deepEqual(problems({ handshakeTimeoutMs: 2000, clientFlightTimeoutMs: 2500 }), [
      'clientFlightTimeoutMs must be an integer in 100..2000 (got 2500)',
    ]);
    // The receive buffer to ask for: null (the system's default) or 4 KiB..64 MiB, on both endpoints.
    assert.deepEqual(problems({ receiveBufferBytes: 1000 }), [
      'receiveBufferBytes must be an integer in 4096..67108864 (got 1000)',
    ]);
    assert.deepEqual(problems({ receiveBufferBytes: null }), []);
    assert.equal(resolveServerOptions({ pskLookup: lookup }).receiveBufferBytes, null);
    assert.throws(
      () => resolveClientOptions({ identity: 'node-a', psk: key, receiveBufferBytes: 128 * 1024 * 1024 }),
      (e: unknown) => e instanceof Error && 'problems' in e && String(e.problems).includes('receiveBufferBytes'),
    );
    const defaults = resolveServerOptions({ pskLookup: lookup });
    assert.deepEqual(
      [
        defaults.handshakesInProgressMax,
        defaults.handshakesInProgressPerAddressMax,
        defaults.handshakesReservedForMembers,
        defaults.handshakesInProgressBytesMax,
        defaults.clientFlightTimeoutMs,
      ],
      [2048, 512, 0, 4 * 1024 * 1024, 10_000],
      'no reserve without isMemberAddress',
    );
    const small = resolveServerOptions({
      pskLookup: lookup,
      handshakesInProgressMax: 10,
      handshakeTimeoutMs: 1000,
      isMemberAddress: () => true,
    });
    assert.deepEqual(
      [small.handshakesInProgressPerAddressMax, small.handshakesReservedForMembers, small.clientFlightTimeoutMs],
      [3, 2, 1000],
    );
    assert.deepEqual(problems({ isMemberAddress: 'yes' as unknown as null }), [
      'isMemberAddress must be a function or null',
    ]);
  });
});
