// Proves that the established-session limits of the DTLS server hold one key to its own share
// (sessionsPerIdentityMax) and never let it keep another identity out (sessionsMax), by
// attacking on loopback with real clients of our own:
// - the holder of one link key ("a") completes handshakes from many ports, before and after
//   another member ("b") connects, with a server that has room for four sessions in all:
//   "b" gets its session and exchanges data throughout, and "a" never holds more than its share;
// - a peer that comes back from a new port again and again (a restart that left its old
//   session behind, without close_notify) always gets in, its newest session works, and the
//   sessions it replaced are gone from every table (count, list, sends to their addresses, the
//   connection-ID index), their clients told with close_notify;
// - a session that moved (connection ID, through a relay that rebinds) and is then replaced
//   leaves no alias: neither its old nor its new address reaches anything;
// - each session an identity's new handshake replaces is reported with the identity and both
//   addresses (the agent logs it), and only its own: another identity's sessions are not;
// - whatever a peer does, the indexes of the server's session table agree (checkInvariants).
import { strict as assert } from 'node:assert';
import type { DtlsClientEndpoint } from '../../../transport/dtls/client.js';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import type { SessionReplacement } from '../../../transport/dtls/options.js';
import { scaledMs } from '../../timing.js';
import { Cleanup, Inbox, echo, internalErrors, startClient, startServer, until } from './helpers.js';
import { RebindingRelay } from './rebinding-relay.js';

const keys = new Map([
  ['a', Buffer.from('link key of a')],
  ['b', Buffer.from('link key of b')],
]);
const lookup = (identity: string): Uint8Array | null => keys.get(identity) ?? null;

/** Opens a client of `identity` on a fresh port and has it exchange one datagram with `server`. */
async function connectAndEcho(cleanup: Cleanup, server: DtlsServerEndpoint, identity: string, text: string) {
  const client = await startClient(cleanup, { identity, psk: keys.get(identity) ?? Buffer.alloc(0) });
  await exchange(client, server, identity, text);
  return client;
}

/** Sends `text` and waits for its echo; rejects after a deadline far below a handshake timeout. */
async function exchange(client: DtlsClientEndpoint, server: DtlsServerEndpoint, identity: string, text: string) {
  const inbox = new Inbox(client);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${identity}: no echo of ${text} within 5 s`)), scaledMs(5000));
  });
  try {
    await Promise.race([
      (async () => {
        await client.send(Buffer.from(text), '127.0.0.1', server.localAddress().port);
        await inbox.waitFor(`${identity}:${text}`);
      })(),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sessionsOf(server: DtlsServerEndpoint, identity: string): number {
  return server.sessionList().filter((s) => s.identity === identity).length;
}

describe('DTLS established-session limits', function () {
  this.timeout(scaledMs(60_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('one key that fills every slot from many ports cannot keep another member out', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, sessionsMax: 4 });
    echo(server);
    for (let i = 0; i < 4; i += 1) await connectAndEcho(cleanup, server, 'a', `flood ${i}`);
    assert.equal(server.stats().sessions, 4, 'a holds every slot');
    const b = await connectAndEcho(cleanup, server, 'b', 'hello');
    assert.equal(sessionsOf(server, 'b'), 1);
    // More of a's handshakes replace a's own sessions, never b's: a holds more than b.
    for (let i = 4; i < 24; i += 1) await connectAndEcho(cleanup, server, 'a', `flood ${i}`);
    await exchange(b, server, 'b', 'still here');
    assert.equal(sessionsOf(server, 'b'), 1);
    assert.equal(sessionsOf(server, 'a'), 3);
    assert.equal(server.stats().sessionsEvicted, 21, 'one of a for b, then twenty of a for a');
    server.checkInvariants();
  });

  it('holds one key to sessionsPerIdentityMax while the server has room for more', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, sessionsMax: 64, sessionsPerIdentityMax: 2 });
    echo(server);
    for (let i = 0; i < 10; i += 1) await connectAndEcho(cleanup, server, 'a', `flood ${i}`);
    const b = await connectAndEcho(cleanup, server, 'b', 'hello');
    await exchange(b, server, 'b', 'again');
    assert.equal(sessionsOf(server, 'a'), 2);
    assert.equal(sessionsOf(server, 'b'), 1);
    assert.equal(server.stats().sessionsEvicted, 8);
    server.checkInvariants();
  });

  it('tells who replaced which session of its own identity, and from where', async () => {
    const replaced: SessionReplacement[] = [];
    const server = await startServer(
      cleanup,
      { pskLookup: lookup, sessionsMax: 64, sessionsPerIdentityMax: 2 },
      { onSessionReplaced: (r) => replaced.push(r) },
    );
    echo(server);
    const clients: DtlsClientEndpoint[] = [];
    for (let i = 0; i < 3; i += 1) clients.push(await connectAndEcho(cleanup, server, 'a', `come back ${i}`));
    await connectAndEcho(cleanup, server, 'b', 'another identity');
    const at = (i: number) => ({ address: '127.0.0.1', port: clients[i]?.localAddress().port ?? 0 });
    assert.deepEqual(replaced, [{ identity: 'a', reason: 'identity', previous: at(0), next: at(2) }]);
  });

  it('lets a peer that comes back from a new port again and again in, and frees what it replaced', async () => {
    // Room for more sessions in all than the peer's share: only the share replaces its sessions.
    const server = await startServer(cleanup, { pskLookup: lookup, sessionsMax: 6, sessionsPerIdentityMax: 3 });
    echo(server);
    // Each client stays open and silent, as a crashed agent's session stays on the server.
    const clients: DtlsClientEndpoint[] = [];
    for (let i = 0; i < 8; i += 1) clients.push(await connectAndEcho(cleanup, server, 'b', `restart ${i}`));
    const newest = clients[clients.length - 1];
    assert.ok(newest !== undefined);
    await exchange(newest, server, 'b', 'newest works');
    const stats = server.stats();
    assert.equal(stats.sessions, 3);
    assert.equal(stats.sessionsEvicted, 5);
    const serverPort = server.localAddress().port;
    // The three most recently used stay; the five replaced are gone from every table.
    const kept = server
      .sessionList()
      .map((s) => s.port)
      .sort();
    assert.deepEqual(
      kept,
      clients
        .slice(5)
        .map((c) => c.localAddress().port)
        .sort(),
    );
    for (const old of clients.slice(0, 5)) {
      const { address, port } = old.localAddress();
      await assert.rejects(server.send(Buffer.from('to a replaced session'), address, port), {
        code: 'NET_UNREACHABLE',
      });
      // close_notify told its client, which drops the session and would handshake again.
      await until(() => !old.hasSession('127.0.0.1', serverPort), 'the replaced client told');
    }
    // A replaced client that speaks again gets a new session, replacing the least recently used.
    const first = clients[0];
    assert.ok(first !== undefined);
    await exchange(first, server, 'b', 'back again');
    assert.equal(sessionsOf(server, 'b'), 3);
    assert.ok(
      server.sessionList().some((s) => s.port === newest.localAddress().port),
      'the session used last is kept',
    );
    server.checkInvariants();
  });

  it('frees the aliases of a session that moved before it was replaced', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, sessionsPerIdentityMax: 1 });
    const peers: { address: string; port: number }[] = [];
    server.onMessage((data, peer) => {
      peers.push({ address: peer.address, port: peer.port });
      const reply = Buffer.concat([Buffer.from(`${peer.identity ?? '?'}:`), data]);
      void server.send(reply, peer.address, peer.port).catch(() => undefined);
    });
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const moving = await startClient(cleanup, { identity: 'b', psk: keys.get('b') ?? Buffer.alloc(0) });
    await moving.send(Buffer.from('before'), '127.0.0.1', relay.port());
    await relay.rebind();
    await moving.send(Buffer.from('after'), '127.0.0.1', relay.port());
    await until(() => peers.length === 2 && server.stats().sessionsMigrated === 1, 'the session moved');
    // The peer comes back directly: its one session, which moved, is replaced.
    await connectAndEcho(cleanup, server, 'b', 'direct');
    assert.equal(server.stats().sessions, 1);
    assert.equal(server.stats().sessionsEvicted, 1);
    for (const { address, port } of peers.slice(0, 2)) {
      await assert.rejects(server.send(Buffer.from('stale'), address, port), { code: 'NET_UNREACHABLE' });
    }
    server.checkInvariants();
  });
});
