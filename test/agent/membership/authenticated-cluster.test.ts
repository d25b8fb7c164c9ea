// Proves on three real in-process agents (coaps: our DTLS 1.2 PSK endpoints on loopback, the
// real factories, memory storage) that the cluster refuses, logs and shrugs off: a peer with an
// unknown identity, a member's key used to speak for another member, and a removed member whose
// key was revoked (still running and campaigning). After each, the leader and term are
// unchanged and writes still commit. Rogue peers send RequestVote with a huge term, which would
// depose the leader if accepted. Also: the local endpoint refuses (4.03) to read or write the
// reserved keystore keys, and an add-member command with a bad key does not decode.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestVoteRequest } from '../../../agent/core/types.js';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { decodeKvResult, encodeKvCommand, encodeKvQuery } from '../../../agent/kv/index.js';
import { keystoreKey } from '../../../agent/membership/keystore.js';
import { EndpointClient, endpointTarget } from '../../../agent/cli/endpoint-client.js';
import { decodeAdminCommand } from '../../../agent/runtime/admin.js';
import { CoapResponseCode } from '../../../transport/coap/index.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import { createSerializer } from '../../../codec/index.js';
import { DtlsClientEndpoint, DtlsServerEndpoint } from '../../../transport/dtls/index.js';
import { createPeerTransport, type PeerTransport } from '../../../transport/index.js';

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

/** A peer transport client presenting `identity` with `psk`, aimed at every agent. */
function rogue(identity: string, psk: Uint8Array, agents: readonly Agent[]): PeerTransport {
  const transport = createPeerTransport(
    {
      name: 'coaps',
      openServerEndpoint: () => DtlsServerEndpoint.listen({ host: '127.0.0.1', port: 0, pskLookup: () => null }),
      openClientEndpoint: () => DtlsClientEndpoint.open({ identity, psk, bindAddress: '127.0.0.1' }),
    },
    { serializer: createSerializer('cbor') },
  );
  transport.client.setPeers(agents.map((a) => ({ id: a.config.nodeId, address: `${a.config.listenPeer.host}:${a.config.listenPeer.port}` })));
  return transport;
}

const vote = (candidateId: string): RequestVoteRequest => ({ type: 'RequestVoteRequest', term: 1_000_000, candidateId, lastLogIndex: 1_000_000, lastLogTerm: 1_000_000, transfer: true });

describe('PSK-authenticated membership on a real coaps cluster', function () {
  this.timeout(60_000);
  let dir: string;
  let agents: Agent[] = [];
  const loggers = new Map<string, MemoryLogger>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-auth-'));
    const nodes = initCluster({ dir, nodes: 3, basePort: await findFreePorts(6), transport: 'coaps', storage: 'memory', force: true, configOverrides: () => ({ raft: RAFT, logging: { level: 'warning' } }) });
    for (const node of nodes) {
      const logger = new MemoryLogger();
      loggers.set(node.id, logger);
      agents.push(await Agent.start(loadAgentConfig(node.config), REAL_FACTORIES, logger, new NoopMetrics()));
    }
  });

  after(async () => {
    for (const agent of agents) await agent.stop('test over');
    agents = [];
    rmSync(dir, { recursive: true, force: true });
  });

  const agent = (id: string): Agent => agents.find((a) => a.config.nodeId === id) ?? assert.fail(`no agent ${id}`);
  const leaderOf = (ids: readonly string[]): Agent | null => {
    const leaders = ids.map(agent).filter((a) => a.node.isLeader());
    return leaders.length === 1 ? (leaders[0] ?? null) : null;
  };
  const write = async (via: Agent, key: string): Promise<void> => {
    const result = decodeKvResult(await via.node.submitAnywhere(encodeKvCommand({ op: 'put', key, value: new Uint8Array([1]), returnPrevious: false, session: null, timeMs: Date.now() }), 10_000));
    assert.equal(result.type, 'put');
  };
  /** Sends a deposing RequestVote to every listed agent; each must fail. */
  const assertRefused = async (peer: PeerTransport, candidate: string, ids: readonly string[]): Promise<void> => {
    try {
      for (const id of ids) await assert.rejects(peer.client.send(id, vote(candidate), 3000), `${id} must refuse ${candidate}`);
    } finally {
      await peer.client.close();
    }
  };
  const warned = (id: string, pattern: RegExp): boolean => (loggers.get(id)?.records ?? []).some((r) => r.level === 'warning' && pattern.test(r.message));

  it('refuses an unknown identity, an impersonator and a revoked member without disturbing the cluster', async () => {
    const leader = await until('a leader', 20_000, () => leaderOf(['n1', 'n2', 'n3']));
    const term = leader.node.getCurrentTerm();
    await write(leader, 'before');

    await assertRefused(rogue('intruder', randomBytes(16), agents), 'intruder', ['n1', 'n2', 'n3']);
    for (const id of ['n1', 'n2', 'n3']) assert.ok(warned(id, /handshake: unknown or revoked identity/), `${id} logged the unknown identity`);

    const n3Key = Buffer.from(readFileSync(join(dir, 'n3', 'n3.key'), 'utf8').trim(), 'hex');
    const victim = leader.config.nodeId === 'n2' ? 'n1' : 'n2';
    await assertRefused(rogue('n3', n3Key, agents), victim, ['n1', 'n2'].filter((id) => id !== victim));
    assert.ok(agents.some((a) => warned(a.config.nodeId, /authenticated as n3 but claims to be/)), 'the impersonation was logged');
    assert.equal(leader.node.isLeader(), true);
    assert.equal(leader.node.getCurrentTerm(), term);

    // Remove n3 (moving leadership off it first) while it keeps running, then use its key.
    if (leader.config.nodeId === 'n3') await leader.node.transferLeadership(null, 10_000);
    const remaining = ['n1', 'n2'];
    const newLeader = await until('a leader among n1 and n2', 20_000, () => leaderOf(remaining));
    const termAfterMove = newLeader.node.getCurrentTerm();
    await newLeader.node.adminAnywhere({ op: 'remove-member', id: 'n3' }, 20_000);
    await until('the tombstone on n1 and n2', 10_000, () => (remaining.every((id) => revoked(agent(id))) ? true : null));
    await assertRefused(rogue('n3', n3Key, agents), 'n3', remaining);
    await write(agent(remaining[0] ?? 'n1'), 'after');
    assert.equal(newLeader.node.isLeader(), true);
    assert.equal(newLeader.node.getCurrentTerm(), termAfterMove);
    for (const id of remaining) assert.ok(warned(id, /unknown or revoked identity/));

    // The keystore is never served: reading or writing a reserved key through /kv is refused.
    const client = new EndpointClient(endpointTarget(`127.0.0.1:${newLeader.config.listenEndpoint.port}`, 5000));
    try {
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const response = await client.request({ method, path: ['kv', '.coraft', 'psk', 'n1'], ...(method === 'PUT' ? { payload: new TextEncoder().encode('ab'.repeat(16)) } : {}) });
        assert.equal(response.code, CoapResponseCode.Forbidden, method);
      }
    } finally {
      await client.close();
    }
  });
});

describe('keystore entries are not reachable through the endpoint or malformed commands', () => {
  it('decodes admin commands carrying keys strictly', () => {
    const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    assert.equal(decodeAdminCommand(bytes({ op: 'rekey-member', id: 'n1', psk: 'ab'.repeat(16) })).op, 'rekey-member');
    assert.throws(() => decodeAdminCommand(bytes({ op: 'rekey-member', id: 'n1', psk: 'ab'.repeat(15) })), /psk must be a key/);
    assert.throws(() => decodeAdminCommand(bytes({ op: 'add-member', id: 'n1', address: 'h:1', learner: false, psk: 'zz'.repeat(16) })), /psk must be a key/);
    assert.deepEqual(decodeAdminCommand(bytes({ op: 'add-member', id: 'n1', address: 'h:1', learner: false })), { op: 'add-member', id: 'n1', address: 'h:1', learner: false, psk: null });
  });
});

/** True when the agent's applied KV state holds the tombstone of n3's key. */
function revoked(agent: Agent): boolean {
  const result = decodeKvResult(agent.node.readLocal(encodeKvQuery({ op: 'get', key: keystoreKey('n3') })));
  return result.type === 'get' && result.current !== null && new TextDecoder().decode(result.current.value) === 'revoked';
}
