// Proves that a DTLS session with a connection ID (RFC 9146) survives a change of the client's
// address and port, and that only an authenticated record moves it. A UDP relay (node:dgram)
// between our client and our server replaces its upstream socket mid-session, as a NAT that
// rebinds: datagrams and CoAP RPCs sent before and after all arrive, with one handshake on
// each side, the server's session follows the new port, and a reply addressed to the old port
// (the request came before the move) reaches the new one. Then attacks from a new address:
// a record whose tag was altered, and a genuine record replayed, move nothing. Without the
// extension (a client that does not offer it) the same rebinding loses the session, as before.
import { strict as assert } from 'node:assert';
import type { AppendEntriesResponse } from '../../../contracts/messages.js';
import { createCoapTransport } from '../../../transport/coap/index.js';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import { DTLS_1_2, TLS_PSK_WITH_AES_128_CCM_8 } from '../../../transport/dtls/constants.js';
import { ServerHandshake } from '../../../transport/dtls/handshake-server.js';
import { encodeClientHello, parseServerHello } from '../../../transport/dtls/handshake-messages.js';
import { RecordLayer } from '../../../transport/dtls/record-layer.js';
import { append, echoHandler } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';
import { Cleanup, Inbox, echo, internalErrors, startClient, startServer, until } from './helpers.js';
import { RebindingRelay, bound } from './rebinding-relay.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('link key of a and b');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/**
 * The extension types of the ServerHello a server handshake (asking for an 8-byte CID, the
 * default) answers a ClientHello whose connection_id asks for `clientCid` with.
 */
function serverHelloExtensions(clientCid: Uint8Array): number[] {
  const layer = new RecordLayer(false, 64);
  const role = new ServerHandshake({
    records: layer,
    randomBytes: (n) => new Uint8Array(n).fill(5),
    pskLookup: lookup,
    identityHint: null,
    pskIdentityBytesMax: 128,
    requireExtendedMasterSecret: false,
    connectionIdBytes: 8,
  });
  const data = new Uint8Array(1 + clientCid.length);
  data[0] = clientCid.length;
  data.set(clientCid, 1);
  const body = encodeClientHello({
    version: DTLS_1_2,
    random: new Uint8Array(32).fill(1),
    sessionId: new Uint8Array(0),
    cookie: new Uint8Array(0),
    cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: Uint8Array.of(0),
    extensions: [{ type: 54, data }],
  });
  const outcome = role.handleMessage({ msgType: 1, messageSeq: 0, body });
  assert.ok(outcome.kind === 'flight');
  const first = outcome.items[0];
  assert.ok(first?.kind === 'handshake');
  return (parseServerHello(first.message.body)?.extensions ?? []).map((e) => e.type);
}

/** The only session of `server`: its port. */
function sessionPort(server: DtlsServerEndpoint): number {
  const sessions = server.sessionList();
  assert.equal(sessions.length, 1, `one session: ${JSON.stringify(sessions)}`);
  return sessions[0]?.port ?? -1;
}

describe('DTLS Connection ID: a session survives a new client address', function () {
  this.timeout(scaledMs(20_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('moves the session to the new port with no new handshake and no lost datagram', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    for (let i = 0; i < 10; i += 1) await client.send(Buffer.from(`before ${i}`), '127.0.0.1', relay.port());
    for (let i = 0; i < 10; i += 1) await inbox.waitFor(`node-a:before ${i}`);
    assert.equal(sessionPort(server), relay.upstreamPort());
    const oldPort = relay.upstreamPort();
    await relay.rebind();
    assert.notEqual(relay.upstreamPort(), oldPort);
    for (let i = 0; i < 10; i += 1) await client.send(Buffer.from(`after ${i}`), '127.0.0.1', relay.port());
    for (let i = 0; i < 10; i += 1) await inbox.waitFor(`node-a:after ${i}`);
    assert.equal(sessionPort(server), relay.upstreamPort(), 'the session follows the new port');
    assert.equal(server.stats().handshakesCompleted, 1, 'no new handshake on the server');
    assert.equal(client.stats().handshakesCompleted, 1, 'no new handshake on the client');
    assert.equal(server.stats().sessionsMigrated, 1);
    assert.ok(
      relay.forwardedUp.slice(-1).every((d) => d[0] === 25),
      'the client sends tls12_cid records',
    );
  });

  it('answers every CoAP RPC sent across two rebindings with one handshake', async () => {
    const serializer = createTestSerializer();
    let dtlsServer: DtlsServerEndpoint | null = null;
    const b = createCoapTransport({
      serializer,
      openServerEndpoint: async () => {
        dtlsServer = await startServer(cleanup, { pskLookup: lookup });
        return dtlsServer;
      },
      openClientEndpoint: () => Promise.reject(new Error('b sends nothing')),
    });
    b.server.setHandler(echoHandler());
    await b.server.start();
    cleanup.add(() => b.server.stop());
    const relay = await RebindingRelay.start(cleanup, b.server.localAddress().port);
    const a = createCoapTransport({
      serializer,
      openServerEndpoint: () => Promise.reject(new Error('a serves nothing')),
      openClientEndpoint: () => startClient(cleanup, { identity: 'node-a', psk: key }),
    });
    cleanup.add(() => a.client.close());
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${relay.port()}` }]);
    const answered: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      if (i === 10 || i === 20) await relay.rebind();
      const response: AppendEntriesResponse = await a.client.send('b', append(i, 100), 5000);
      answered.push(response.lastLogIndex);
    }
    assert.deepEqual(
      answered,
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.ok(dtlsServer !== null);
    const stats = (dtlsServer as DtlsServerEndpoint).stats();
    assert.equal(stats.handshakesCompleted, 1, 'one handshake for all 30 RPCs');
    assert.equal(stats.sessionsMigrated, 2);
  });

  it('delivers a reply addressed to where the session was before it moved', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const peers: { address: string; port: number }[] = [];
    server.onMessage((_data, peer) => peers.push({ address: peer.address, port: peer.port }));
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('request'), '127.0.0.1', relay.port());
    await until(() => peers.length === 1, 'the request');
    await relay.rebind();
    await client.send(Buffer.from('more'), '127.0.0.1', relay.port());
    await until(() => peers.length === 2, 'the session moved');
    const [before, after] = peers;
    assert.ok(before !== undefined && after !== undefined && before.port !== after.port);
    // The reply to the first request is addressed to the old port, which the relay closed.
    await server.send(Buffer.from('reply'), before.address, before.port);
    await inbox.waitFor('reply');
  });

  it('does not move the session for a forged or a replayed record from a new address', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('one'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:one');
    const port = sessionPort(server);
    const genuine = relay.forwardedUp.at(-1);
    assert.ok(genuine !== undefined && genuine[0] === 25, 'a tls12_cid record to replay');
    const attacker = await bound();
    cleanup.add(() => new Promise((resolve) => attacker.close(() => resolve())));
    // A forged record: the genuine one with its tag altered (last byte), and a newer sequence
    // number, sent from another port.
    const forged = Buffer.from(genuine);
    forged[10] = (forged[10] ?? 0) + 1;
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0xff;
    const before = server.stats().dropped;
    attacker.send(forged, server.localAddress().port, '127.0.0.1');
    await until(() => server.stats().dropped.auth > before.auth, 'the forged record dropped');
    assert.equal(sessionPort(server), port, 'a forged record moves nothing');
    // The genuine record, replayed from another port: it authenticates but was seen.
    attacker.send(genuine, server.localAddress().port, '127.0.0.1');
    await until(() => server.stats().dropped.replay > before.replay, 'the replay dropped');
    assert.equal(sessionPort(server), port, 'a replayed record moves nothing');
    assert.equal(server.stats().sessionsMigrated, 0);
    await client.send(Buffer.from('two'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:two');
    assert.deepEqual(
      inbox.received.filter((t) => t.startsWith('node-a:')),
      ['node-a:one', 'node-a:two'],
      'nothing was delivered twice',
    );
  });

  it('uses a CID both ways when the client asks for one of its own; none for one asking too long a CID', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, connectionIdBytes: 4 });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('both'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:both');
    assert.equal(relay.forwardedUp.at(-1)?.[0], 25, 'client to server: tls12_cid');
    assert.equal(relay.forwardedDown.at(-1)?.[0], 25, 'server to client: tls12_cid');
    assert.equal(relay.forwardedDown.at(-1)?.length, 13 + 4 + 16 + 'node-a:both'.length + 1, 'a 4-byte CID');
    // A ClientHello asking for a CID over 32 bytes: the server ignores the extension.
    const extensions = serverHelloExtensions(Uint8Array.from({ length: 33 }, (_, i) => i));
    assert.equal(extensions.includes(54), false);
    assert.equal(serverHelloExtensions(Uint8Array.of(1, 2)).includes(54), true);
  });

  it('without the extension the server cannot place records from the new port (as before RFC 9146)', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await RebindingRelay.start(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, connectionIdBytes: null });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('one'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:one');
    assert.ok(
      relay.forwardedUp.every((d) => d[0] !== 25),
      'no tls12_cid record without the extension',
    );
    await relay.rebind();
    const unknown = server.stats().dropped.unknownSession;
    await client.send(Buffer.from('two'), '127.0.0.1', relay.port());
    await until(() => server.stats().dropped.unknownSession > unknown, 'the record from the new port dropped');
    assert.equal(server.stats().sessionsMigrated, 0);
    assert.ok(!inbox.received.includes('node-a:two'));
  });
});
