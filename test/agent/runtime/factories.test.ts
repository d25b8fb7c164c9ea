// Proves the plumbing of the members' addresses into the agent's DTLS peer server (issue
// 14.6): the coaps server built by peerTransportConfig counts a cookie-completing hello from a
// configured member's host (127.0.0.1 here) as a member's and one from another address
// (127.0.0.2) as not, so the reserved share of half-open handshakes works for members; and the
// client wrapper that the real factories hand to the node updates the set on every setPeers.
// And the agent's peer DTLS client is opened to retry a lost ClientHello within a third of the
// lowest election timeout, not after DTLS's default second: a peer still starting when the first
// hello went out is reached in time for the early first campaign (issue 17). And that its
// retransmissions back off to at most half an election timeout: a handshake begun while a peer
// was down reaches the peer within that once it is back (a restarted follower heard from its
// leader about 3 s after its start when the gaps doubled up to DTLS's 8 s cap).
// Also that every agent socket (the coaps server and client, the local endpoint) asks the kernel
// for SOCKET_RECEIVE_BUFFER_BYTES of receive buffer, and that a smaller grant is logged: with
// the system's default (208 KiB) a leader under 64 clients of 4 KiB dropped datagrams.
// And that a handshake with an unknown identity is logged with the address it came from.
// And that the DTLS endpoints' contained internal errors are logged at most
// INTERNAL_ERROR_LOGS_PER_SECOND_MAX a second, the next line saying how many were left out.
// And that the coaps local endpoint logs them too, and warns about handshakes refused for a
// wrong endpoint key (it logged neither: a local application with a wrong key failed unseen).
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import sinon from 'sinon';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkClient } from '../../../contracts/network.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import {
  INTERNAL_ERROR_LOGS_PER_SECOND_MAX,
  REAL_FACTORIES,
  SOCKET_RECEIVE_BUFFER_BYTES,
  createMembership,
  followingMembers,
  peerHandshakeRetransmitInitialMs,
  peerHandshakeRetransmitMaxMs,
  peerTransportConfig,
} from '../../../agent/runtime/factories.js';
import { HandshakeType } from '../../../transport/dtls/constants.js';
import { parseHelloVerifyRequest } from '../../../transport/dtls/handshake-messages.js';
import { DtlsClientEndpoint, DtlsServerEndpoint, MemberHosts } from '../../../transport/dtls/index.js';
import { UdpEndpoint } from '../../../transport/udp.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { clientHelloRecord } from '../../transport/dtls/flooder.js';

/** Completes a cookie exchange from `source` and goes silent; resolves on the ServerHello. */
async function cookieCompletingHello(source: string, port: number): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, source, () => resolve()));
  const random = new Uint8Array(32).fill(3);
  await new Promise<void>((resolve) => {
    socket.on('message', (datagram) => {
      const record = splitRecords(datagram, 4).records[0];
      if (record?.fragment[0] === HandshakeType.serverHello) resolve();
      if (record?.fragment[0] !== HandshakeType.helloVerifyRequest) return;
      const hvr = parseHelloVerifyRequest(record.fragment.subarray(12));
      if (hvr !== null) socket.send(clientHelloRecord(random, hvr.cookie, 1), port, '127.0.0.1');
    });
    socket.send(clientHelloRecord(random, new Uint8Array(0), 0), port, '127.0.0.1');
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

describe("agent factories: members' addresses for the DTLS server", () => {
  let dir = '';
  const sandbox = sinon.createSandbox();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-factories-'));
  });
  afterEach(() => {
    sandbox.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The coaps peer server of n1 of a fresh 3-node cluster on `basePort`, its logger and the spied listen. */
  async function openCoapsPeerServer(basePort: number) {
    const [node] = initCluster({ dir, nodes: 3, basePort, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = { ...loadAgentConfig(node.config), listenPeer: { host: '127.0.0.1', port: 0 } };
    const logger = new MemoryLogger();
    const transportConfig = peerTransportConfig(config, logger, createMembership(config, logger));
    assert.ok(transportConfig.name === 'coaps', 'coaps expected');
    const listen = sandbox.spy(DtlsServerEndpoint, 'listen');
    return { logger, listen, endpoint: await transportConfig.openServerEndpoint() };
  }

  it("counts a member host's hello as a member's and another address's as not", async () => {
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_000, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = { ...loadAgentConfig(node.config), listenPeer: { host: '0.0.0.0', port: 0 } };
    const hosts = new MemberHosts();
    hosts.replace(config.members.map((m) => m.address));
    const logger = new MemoryLogger();
    const transportConfig = peerTransportConfig(config, logger, createMembership(config, logger), hosts);
    assert.equal(transportConfig.name, 'coaps');
    if (transportConfig.name !== 'coaps') return;
    // The server endpoint comes wrapped (a watch on its failed handshakes): a spy catches the real one.
    const listen = sandbox.spy(DtlsServerEndpoint, 'listen');
    const endpoint = await transportConfig.openServerEndpoint();
    const server = await listen.returnValues[0];
    assert.ok(server !== undefined);
    try {
      await cookieCompletingHello('127.0.0.1', server.localAddress().port);
      await cookieCompletingHello('127.0.0.2', server.localAddress().port);
      assert.equal(server.stats().handshakesInProgress, 2);
      assert.equal(server.stats().handshakesInProgressMembers, 1);
    } finally {
      await endpoint.close();
    }
  });

  it('retries a lost ClientHello to a peer within half a heartbeat and a third of an election timeout', async () => {
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_100, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = { ...loadAgentConfig(node.config), listenPeer: { host: '127.0.0.1', port: 0 } };
    const retryMs = peerHandshakeRetransmitInitialMs(config);
    assert.ok(retryMs >= 100 && retryMs <= config.raft.electionTimeoutMinMs / 3, `${retryMs} ms`);
    assert.ok(
      retryMs <= config.raft.heartbeatIntervalMs / 2,
      'before the early first campaign, a heartbeat after start',
    );
    assert.ok(retryMs < 1000, "below DTLS's default first retransmission");
    const logger = new MemoryLogger();
    const transportConfig = peerTransportConfig(config, logger, createMembership(config, logger));
    if (transportConfig.name !== 'coaps') return assert.fail('coaps expected');
    const open = sandbox.spy(DtlsClientEndpoint, 'open');
    const client = await transportConfig.openClientEndpoint();
    try {
      assert.equal(open.firstCall.args[0].retransmitInitialMs, retryMs, 'the peer client retries that soon');
    } finally {
      await client.close();
    }
  });

  it('reaches a peer that was down within half an election timeout of its return', async function () {
    this.timeout(20_000);
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_150, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = { ...loadAgentConfig(node.config), listenPeer: { host: '127.0.0.1', port: 0 } };
    const logger = new MemoryLogger();
    const transportConfig = peerTransportConfig(config, logger, createMembership(config, logger));
    if (transportConfig.name !== 'coaps') return assert.fail('coaps expected');
    const open = sandbox.spy(DtlsClientEndpoint, 'open');
    await (await transportConfig.openClientEndpoint()).close();
    const { retransmitMaxMs } = open.firstCall.args[0];
    assert.equal(retransmitMaxMs, peerHandshakeRetransmitMaxMs(config));
    const halfElectionMs = config.raft.electionTimeoutMinMs / 2;
    assert.ok(retransmitMaxMs !== undefined && retransmitMaxMs <= halfElectionMs, `${retransmitMaxMs} ms`);

    // The peer's port, free until it comes back.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const key = Buffer.from('a link key of two members');
    const client = await DtlsClientEndpoint.open({
      identity: 'n1',
      psk: key,
      bindAddress: '127.0.0.1',
      retransmitInitialMs: peerHandshakeRetransmitInitialMs(config),
      retransmitMaxMs,
    });
    let server: DtlsServerEndpoint | null = null;
    try {
      // As the leader does: each heartbeat round asks for the session, which starts a handshake
      // when none runs; the first ones go out while the peer is down.
      let reached = false;
      const heartbeats = (async () => {
        while (!reached) {
          const outcome = await client.connect('127.0.0.1', port).then(
            () => true,
            () => false,
          );
          if (outcome) reached = true;
          else await new Promise((resolve) => setTimeout(resolve, config.raft.heartbeatIntervalMs));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const backAt = Date.now();
      server = await DtlsServerEndpoint.listen({
        host: '127.0.0.1',
        port,
        pskLookup: (id) => (id === 'n1' ? key : null),
      });
      await heartbeats;
      const tookMs = Date.now() - backAt;
      assert.ok(tookMs <= halfElectionMs + 150, `reached ${tookMs} ms after it came back`);
    } finally {
      await client.close();
      await server?.close();
    }
  });

  it("gives the peer CoAP client agent.json's peerWholeBodyBytesMax, coaps and coap alike", () => {
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_200, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = { ...loadAgentConfig(node.config), peerWholeBodyBytesMax: 1152 };
    const logger = new MemoryLogger();
    const coaps = peerTransportConfig(config, logger, createMembership(config, logger));
    if (coaps.name !== 'coaps') return assert.fail('coaps expected');
    assert.equal(coaps.options?.client?.wholeBodyBytesMax, 1152);
    assert.notEqual(coaps.options?.advertisedAddress, undefined, 'coaps still advertises its address');
    const coap = peerTransportConfig({ ...config, transport: 'coap' }, logger);
    if (coap.name !== 'coap') return assert.fail('coap expected');
    assert.equal(coap.options?.client?.wholeBodyBytesMax, 1152);
    assert.equal(coap.options?.advertisedAddress, undefined);
  });

  it("gives the coap and http transports this node's own address, so that a member there is refused", () => {
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_200, transport: 'coap', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = loadAgentConfig(node.config);
    const own = config.members.find((m) => m.id === config.nodeId)?.address;
    assert.ok(own !== undefined);
    const logger = new MemoryLogger();
    for (const transport of ['coap', 'http'] as const) {
      const built = peerTransportConfig({ ...config, transport }, logger);
      if (built.name !== 'coap' && built.name !== 'http') return assert.fail(`${transport} expected`);
      assert.equal(built.options?.ownAddress, own, transport);
    }
  });

  it('rate-limits the log of contained DTLS errors, saying how many it left out', async () => {
    const { logger, listen, endpoint } = await openCoapsPeerServer(40_300);
    const clock = sandbox.useFakeTimers({ toFake: ['Date'] });
    try {
      const onInternalError = listen.firstCall.args[1]?.onInternalError;
      assert.ok(onInternalError !== undefined);
      const errors = () => logger.records.filter((r) => r.message === 'dtls: contained internal error');
      for (let i = 0; i < 3 * INTERNAL_ERROR_LOGS_PER_SECOND_MAX; i += 1) onInternalError(new Error(`bug ${i}`));
      assert.equal(errors().length, INTERNAL_ERROR_LOGS_PER_SECOND_MAX);
      clock.tick(1000);
      onInternalError(new Error('a second later'));
      assert.equal(errors().length, INTERNAL_ERROR_LOGS_PER_SECOND_MAX + 1);
      assert.equal(errors().at(-1)?.fields.suppressed, 2 * INTERNAL_ERROR_LOGS_PER_SECOND_MAX);
    } finally {
      clock.restore();
      await endpoint.close();
    }
  });

  it('logs a handshake with an unknown identity with the address and port it came from', async () => {
    const { logger, listen, endpoint } = await openCoapsPeerServer(40_400);
    const client = await DtlsClientEndpoint.open({
      identity: 'intruder',
      psk: Buffer.alloc(32, 1),
      bindAddress: '127.0.0.1',
    });
    try {
      const server = await listen.returnValues[0];
      assert.ok(server !== undefined);
      await assert.rejects(client.connect('127.0.0.1', server.localAddress().port), { code: 'NET_AUTH' });
      const refusal = logger.records.find((r) => r.message.startsWith('refused a peer handshake'));
      assert.equal(refusal?.fields.claimed, 'intruder');
      assert.equal(refusal.fields.remote, `127.0.0.1:${client.localAddress().port}`);
    } finally {
      await client.close();
      await endpoint.close();
    }
  });

  it("updates the members' addresses whenever the node sets its peers", async () => {
    const given: unknown[] = [];
    const inner: NetworkClient = {
      send: () => Promise.reject(new Error('unused')),
      setPeers: (members) => given.push(members),
      close: () => Promise.resolve(),
    };
    const hosts = new MemberHosts();
    const client = followingMembers(inner, hosts);
    client.setPeers([{ id: 'n2', address: '10.1.1.2:5684' }]);
    assert.ok(hosts.has('10.1.1.2'));
    client.setPeers([{ id: 'n3', address: '10.1.1.3:5684' }]);
    assert.ok(!hosts.has('10.1.1.2') && hosts.has('10.1.1.3'));
    assert.equal(given.length, 2);
    assert.equal(await client.reachedAt?.('10.1.1.3:5684'), null, 'a book that cannot tell: nobody');
    const asking = followingMembers({ ...inner, reachedAt: () => Promise.resolve({ self: true }) }, hosts);
    assert.deepEqual(await asking.reachedAt?.('10.1.1.3:5684'), { self: true }, "asks the transport's book");
    await client.close();
  });

  it('asks for SOCKET_RECEIVE_BUFFER_BYTES on every socket, logging a smaller grant', async function () {
    // Linux grants min(asked, net.core.rmem_max) and reports twice that.
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
    const rmemDefault = Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim());
    if (!(rmemMax > rmemDefault)) this.skip();
    const expected = 2 * Math.min(SOCKET_RECEIVE_BUFFER_BYTES, rmemMax);
    const [node] = initCluster({ dir, nodes: 3, basePort: 40_100, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const loaded = loadAgentConfig(node.config);
    const config = {
      ...loaded,
      listenPeer: { host: '127.0.0.1', port: 0 },
      listenEndpoint: { host: '127.0.0.1', port: 0 },
    };
    const logger = new MemoryLogger();
    const transportConfig = peerTransportConfig(config, logger, createMembership(config, logger), new MemberHosts());
    assert.equal(transportConfig.name, 'coaps');
    if (transportConfig.name !== 'coaps') return;
    const listen = sandbox.spy(DtlsServerEndpoint, 'listen');
    const open = sandbox.spy(DtlsClientEndpoint, 'open');
    const serverEndpoint = await transportConfig.openServerEndpoint();
    const clientEndpoint = await transportConfig.openClientEndpoint();
    const endpoint = await REAL_FACTORIES.openEndpoint(config, logger);
    try {
      const server = await listen.returnValues[0];
      const client = await open.returnValues[0];
      assert.ok(server !== undefined && client !== undefined);
      assert.ok(endpoint instanceof UdpEndpoint, 'an endpoint without keys is plain UDP');
      assert.equal(server.receiveBufferBytes(), expected);
      assert.equal(client.receiveBufferBytes(), expected);
      assert.equal(endpoint.receiveBufferBytes(), expected);
      const warned = logger.records.some((r) => r.level === 'warning' && r.message.includes('receive buffer'));
      assert.equal(warned, expected < SOCKET_RECEIVE_BUFFER_BYTES);
    } finally {
      await serverEndpoint.close();
      await clientEndpoint.close();
      await endpoint.close();
    }
  });
  it("logs the coaps local endpoint's refused handshakes and contained errors", async function () {
    this.timeout(10_000);
    const [node] = initCluster({ dir, nodes: 1, basePort: 40_300, transport: 'coaps', storage: 'memory', force: true });
    assert.ok(node !== undefined);
    const config = {
      ...loadAgentConfig(node.config),
      listenEndpoint: { host: '127.0.0.1', port: 0 },
      endpointKeys: { kv: { identity: 'kv', key: Buffer.from('k'.repeat(32)) }, admin: null },
    };
    const logger = new MemoryLogger();
    const listen = sandbox.spy(DtlsServerEndpoint, 'listen');
    const endpoint = await REAL_FACTORIES.openEndpoint(config, logger);
    const client = await DtlsClientEndpoint.open({ identity: 'kv', psk: Buffer.from('w'.repeat(32)) });
    try {
      assert.equal(typeof listen.args[0]?.[1]?.onInternalError, 'function', 'contained errors are logged');
      assert.equal(typeof endpoint.post, 'function', "the server's post is kept");
      await assert.rejects(client.send(Buffer.from('x'), '127.0.0.1', endpoint.localAddress().port));
      const deadline = Date.now() + 5000;
      const warned = () => logger.records.find((r) => r.message.startsWith('refused local endpoint handshakes'));
      while (warned() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(warned()?.fields, { node: 'n1', failed: 1 });
      assert.equal(warned()?.level, 'warning');
    } finally {
      await client.close();
      await endpoint.close();
    }
  });
});
