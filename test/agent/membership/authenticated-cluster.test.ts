// Proves on three real in-process agents (a `cluster init` cluster: coaps with our DTLS
// endpoints on loopback, link keys, the real factories, memory storage) that the trust model
// holds against attacks, in order:
// - an unknown identity and a member speaking for another member are refused, and the leader
//   and term do not move (rogue peers send a deposing RequestVote);
// - an admin command that is unsigned, forged, for another cluster, expired or replayed is
//   refused (4.03) by every node's local endpoint, and nothing changes;
// - a member's forwarded admin command without a valid signature, its forwarded write or read
//   of a reserved `.coraft/` key and a write disguised as an admin entry are refused by the
//   leader (RAFT_FORBIDDEN), and none of it is applied;
// - once removed by a signed command, n3 is cut off: no key in its folder opens a session
//   with the others (OpenSSL), its own link keys get no RPC through, and it cannot be re-added
//   by a member's forwarded command, a forwarded reserved write or a member's local endpoint.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientForwardRequest, RequestVoteRequest } from '../../../contracts/messages.js';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster, type InitNode } from '../../../agent/cli/cluster-init.js';
import { EndpointClient, endpointTarget } from '../../../agent/cli/endpoint-client.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { decodeKvResult, encodeKvCommand, encodeKvQuery } from '../../../agent/kv/index.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { RecordingMetrics } from '../endpoint/harness.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import { publicKeyPem, signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { encodeAdminEntry } from '../../../agent/trust/trust-codec.js';
import { CoapResponseCode } from '../../../transport/coap/index.js';
import type { PeerTransport } from '../../../transport/index.js';
import { candidateKeys, clusterSigner, handshake, linkKeysOf, pool, roguePeer } from '../trust/helpers.js';

const RAFT = { electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600, heartbeatIntervalMs: 50 };

async function until<T>(what: string, timeoutMs: number, probe: () => T | null | Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const vote = (candidateId: string): RequestVoteRequest => ({
  type: 'RequestVoteRequest',
  term: 1_000_000,
  candidateId,
  lastLogIndex: 1_000_000,
  lastLogTerm: 1_000_000,
  transfer: true,
});
const putCommand = (key: string): Uint8Array =>
  encodeKvCommand({
    op: 'put',
    key,
    value: new Uint8Array([1]),
    returnPrevious: false,
    session: null,
    timeMs: Date.now(),
  });
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('the trust model on a real coaps cluster', function () {
  this.timeout(120_000);
  let dir: string;
  let nodes: InitNode[] = [];
  let agents: Agent[] = [];
  const loggers = new Map<string, MemoryLogger>();
  const recorded = new Map<string, RecordingMetrics>();
  const rogues: PeerTransport[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-auth-'));
    nodes = initCluster({
      dir,
      nodes: 3,
      basePort: await findFreePorts(6),
      transport: 'coaps',
      storage: 'memory',
      force: true,
      configOverrides: () => ({ raft: RAFT, logging: { level: 'warning' } }),
    });
    for (const node of nodes) {
      const logger = new MemoryLogger();
      loggers.set(node.id, logger);
      const metrics = new RecordingMetrics();
      recorded.set(node.id, metrics);
      agents.push(await Agent.start(loadAgentConfig(node.config), REAL_FACTORIES, logger, metrics));
    }
  });

  after(async () => {
    for (const rogue of rogues) await rogue.client.close();
    for (const agent of agents) await agent.stop('test over');
    agents = [];
    rmSync(dir, { recursive: true, force: true });
  });

  const agent = (id: string): Agent => agents.find((a) => a.config.nodeId === id) ?? assert.fail(`no agent ${id}`);
  const folder = (id: string): string => nodes.find((n) => n.id === id)?.dir ?? assert.fail(`no node ${id}`);
  const peerPort = (id: string): number => agent(id).config.listenPeer.port;
  const members = (): { id: string; address: string }[] =>
    agents.map((a) => ({ id: a.config.nodeId, address: `127.0.0.1:${a.config.listenPeer.port}` }));
  const leaderOf = (ids: readonly string[]): Agent | null => {
    const leaders = ids.map(agent).filter((a) => a.node.isLeader());
    return leaders.length === 1 ? (leaders[0] ?? null) : null;
  };
  const write = async (via: Agent, key: string): Promise<void> => {
    assert.equal(decodeKvResult(await via.node.submitAnywhere(putCommand(key), 10_000)).type, 'put');
  };
  const warned = (id: string, pattern: RegExp): boolean =>
    (loggers.get(id)?.records ?? []).some((r) => r.level === 'warning' && pattern.test(r.message));
  /** A rogue presenting `identity` with the link keys in `keysFrom`'s folder (or `key` toward everyone). */
  const rogue = (identity: string, keysFrom: string | Uint8Array): PeerTransport => {
    const keys = typeof keysFrom === 'string' ? linkKeysOf(folder(keysFrom)) : null;
    const byPort = (port: number): Uint8Array | null =>
      keys === null
        ? keysFrom instanceof Uint8Array
          ? keysFrom
          : null
        : (keys.get(agents.find((a) => a.config.listenPeer.port === port)?.config.nodeId ?? '') ?? null);
    const peer = roguePeer(identity, byPort, members());
    rogues.push(peer);
    return peer;
  };
  const forward = (
    peer: PeerTransport,
    source: string,
    to: string,
    kind: ClientForwardRequest['kind'],
    payload: Uint8Array,
  ) => peer.client.send(to, { type: 'ClientForwardRequest', sourceId: source, kind, payload, timeoutMs: 5000 }, 8000);
  const endpoint = (id: string): EndpointClient =>
    new EndpointClient(endpointTarget(`127.0.0.1:${agent(id).config.listenEndpoint.port}`, 8000));
  const reservedValue = (id: string): boolean => {
    const result = decodeKvResult(agent(id).node.readLocal(encodeKvQuery({ op: 'get', key: '.coraft/psk/evil' })));
    return result.type === 'get' && result.current !== null;
  };

  it('refuses an unknown identity and a member speaking for another, without disturbing the cluster', async () => {
    const leader = await until('a leader', 20_000, () => leaderOf(['n1', 'n2', 'n3']));
    const term = leader.node.getCurrentTerm();
    await write(leader, 'before');
    const intruder = rogue('intruder', Uint8Array.from(randomBytes(32)));
    for (const id of ['n1', 'n2', 'n3'])
      await assert.rejects(intruder.client.send(id, vote('intruder'), 3000), `${id} refuses the intruder`);
    for (const id of ['n1', 'n2', 'n3']) {
      assert.ok(warned(id, /handshake: no link key/), `${id} logged the unknown identity`);
      // The agent's metrics reach its membership manager: the refusal is counted, as deploy/README.md says.
      assert.ok((recorded.get(id)?.count('membership_refusals_total', { where: 'handshake' }) ?? 0) > 0, id);
    }
    // n3's own link keys, speaking for another member: refused at the RPC.
    const victim = leader.config.nodeId === 'n2' ? 'n1' : 'n2';
    const impostor = rogue('n3', 'n3');
    for (const id of ['n1', 'n2'].filter((i) => i !== victim))
      await assert.rejects(impostor.client.send(id, vote(victim), 3000));
    assert.ok(
      agents.some((a) => warned(a.config.nodeId, /authenticated as n3 but claims to be/)),
      'the impersonation was logged',
    );
    assert.equal(leader.node.isLeader(), true);
    assert.equal(leader.node.getCurrentTerm(), term);
  });

  it('refuses unsigned, forged, foreign, expired and replayed admin commands on every node', async () => {
    const signer = clusterSigner(dir);
    const intruder = generateKeyPairSync('ed25519');
    const add: AdminOperation = { op: 'add-member', id: 'n9', address: '127.0.0.1:9', learner: true, links: [] };
    // A valid command, applied once: its replay must be refused everywhere.
    const rotateToSame = signer.sign({
      op: 'set-admin-key',
      publicKey: publicKeyPem(loadAgentConfig(nodes[0]?.config ?? '').adminPublicKey ?? assert.fail('no admin key')),
    });
    const first = endpoint('n1');
    try {
      assert.equal(
        (await first.request({ method: 'POST', path: ['admin'], payload: rotateToSame })).code,
        CoapResponseCode.Changed,
      );
    } finally {
      await first.close();
    }
    const attacks: Record<string, Uint8Array> = {
      unsigned: json({ id: 'n9', address: '127.0.0.1:9', learner: true }),
      forged: signAdminCommand(add, signer.cluster, intruder.privateKey, Date.now(), 60_000),
      foreign: signer.sign(add, { cluster: 'another-cluster' }),
      expired: signer.sign(add, { atMs: Date.now() - 120_000, validMs: 60_000 }),
    };
    for (const id of ['n1', 'n2', 'n3']) {
      const client = endpoint(id);
      try {
        for (const [name, payload] of Object.entries(attacks)) {
          const response = await client.request({ method: 'POST', path: ['members'], payload });
          assert.equal(
            response.code,
            CoapResponseCode.Forbidden,
            `${id} refuses the ${name} command: ${new TextDecoder().decode(response.payload)}`,
          );
        }
        const replay = await client.request({ method: 'POST', path: ['admin'], payload: rotateToSame });
        assert.equal(replay.code, CoapResponseCode.Forbidden, `${id} refuses the replay`);
        assert.match(new TextDecoder().decode(replay.payload), /replayed/);
      } finally {
        await client.close();
      }
    }
    for (const a of agents)
      assert.equal(
        a.node.getStatus().members.some((m) => m.id === 'n9'),
        false,
      );
  });

  it("refuses a member's forwarded admin command, reserved writes and disguised admin entries (leader)", async () => {
    const leader = await until('a leader', 20_000, () => leaderOf(['n1', 'n2', 'n3']));
    const source = leader.config.nodeId === 'n1' ? 'n2' : 'n1';
    const member = rogue(source, source);
    const signer = clusterSigner(dir);
    const cases: [string, ClientForwardRequest['kind'], Uint8Array][] = [
      [
        'an unsigned add-member',
        'admin',
        json({ op: 'add-member', id: 'evil', address: '127.0.0.1:9', learner: false }),
      ],
      ['a write of a reserved key', 'write', putCommand('.coraft/psk/evil')],
      ['a read of a reserved key', 'read', encodeKvQuery({ op: 'get', key: '.coraft/psk/n1' })],
      [
        'an admin entry disguised as a write',
        'write',
        encodeAdminEntry({
          envelope: signer.sign({ op: 'remove-member', id: leader.config.nodeId }),
          timeMs: Date.now(),
        }),
      ],
    ];
    for (const [name, kind, payload] of cases) {
      const response = await forward(member, source, leader.config.nodeId, kind, payload);
      assert.equal(response.code, 'RAFT_FORBIDDEN', `${name}: ${response.message}`);
    }
    await write(leader, 'after-forwards');
    for (const id of ['n1', 'n2', 'n3']) assert.equal(reservedValue(id), false, `${id} applied no reserved write`);
    assert.equal(await handshake(peerPort(leader.config.nodeId), 'evil', 'ab'.repeat(32)), false);
    assert.equal(leader.node.getStatus().members.length, 3);
  });

  it('cuts a removed member off: its files open no session and cannot re-add it', async () => {
    const signer = clusterSigner(dir);
    let leader = await until('a leader', 20_000, () => leaderOf(['n1', 'n2', 'n3']));
    if (leader.config.nodeId === 'n3') await leader.node.transferLeadership(null, 10_000);
    leader = await until('a leader among n1 and n2', 20_000, () => leaderOf(['n1', 'n2']));
    await leader.node.adminAnywhere(signer.sign({ op: 'remove-member', id: 'n3' }), 20_000);
    // The removal is applied (n3's link keys leave the keystore at apply), not only appended (the
    // configuration, and so the member list, changes at append): wait for both.
    const removedAt = leader.node.getStatus().commitIndex;
    for (const id of ['n1', 'n2'])
      await until(`${id} to drop n3`, 10_000, () => {
        const status = agent(id).node.getStatus();
        return status.members.some((m) => m.id === 'n3') || status.lastApplied < removedAt ? null : true;
      });

    // Every key-looking string of n3's folder, as n3, toward n1 and n2: no session.
    const candidates = candidateKeys(folder('n3'));
    assert.ok(candidates.length >= 4, "n3's folder has keys to try");
    const attempts = ['n1', 'n2'].flatMap((target) =>
      candidates.map((key) => () => handshake(peerPort(target), 'n3', key)),
    );
    assert.deepEqual((await pool(attempts, 4)).filter((ok) => ok).length, 0, "a key of n3's folder opened a session");

    // n3's own link keys carry no request any more: not a forwarded add, not a vote.
    const removed = rogue('n3', 'n3');
    await assert.rejects(
      forward(
        removed,
        'n3',
        leader.config.nodeId,
        'admin',
        json({ op: 'add-member', id: 'n3', address: '127.0.0.1:9', learner: false }),
      ),
    );
    for (const id of ['n1', 'n2']) await assert.rejects(removed.client.send(id, vote('n3'), 3000));

    // A member forwarding n3's re-admission, or a reserved write, is refused.
    const source = leader.config.nodeId === 'n1' ? 'n2' : 'n1';
    const member = rogue(source, source);
    const readd = json({
      op: 'add-member',
      id: 'n3',
      address: `127.0.0.1:${peerPort('n3')}`,
      learner: false,
      links: [],
    });
    assert.equal((await forward(member, source, leader.config.nodeId, 'admin', readd)).code, 'RAFT_FORBIDDEN');
    assert.equal(
      (await forward(member, source, leader.config.nodeId, 'write', putCommand('.coraft/links/n1/n3'))).code,
      'RAFT_FORBIDDEN',
    );

    // A member's local endpoint refuses it too.
    for (const id of ['n1', 'n2']) {
      const client = endpoint(id);
      try {
        assert.equal(
          (await client.request({ method: 'POST', path: ['members'], payload: readd })).code,
          CoapResponseCode.Forbidden,
        );
        assert.equal(
          (
            await client.request({
              method: 'PUT',
              path: ['kv', '.coraft', 'links', 'n3'],
              payload: new Uint8Array([1]),
            })
          ).code,
          CoapResponseCode.Forbidden,
        );
      } finally {
        await client.close();
      }
    }
    await write(leader, 'after-removal');
    for (const id of ['n1', 'n2'])
      assert.equal(
        agent(id)
          .node.getStatus()
          .members.some((m) => m.id === 'n3'),
        false,
        `${id} did not take n3 back`,
      );
    await assert.rejects(
      agent('n3').node.submitAnywhere(putCommand('from-n3'), 3000),
      'the removed member gets nothing committed',
    );
  });
});
