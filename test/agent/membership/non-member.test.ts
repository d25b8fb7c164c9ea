// Proves on two real in-process agents (a `cluster init --nodes 3 --initial-members 2` cluster: coaps
// with our DTLS endpoints on loopback, link keys, the real factories, memory storage) that a gateway
// holding valid link keys with every member but not a member itself (n3, provisioned to join later)
// gets nothing through: its votes and pre-votes at a far higher term, its AppendEntries,
// InstallSnapshot and TimeoutNow as a would-be leader, its forwarded add-member of itself (unsigned),
// and its forwarded write are all refused; the leader and the term stay, nothing is applied, n3
// does not become a member. And each member logs it once: a gateway that keeps trying (as a removed
// one that still runs does, every election timeout) does not get a warning line per attempt.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestMessage } from '../../../contracts/messages.js';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster, type InitNode } from '../../../agent/cli/cluster-init.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { encodeKvCommand, encodeKvQuery, decodeKvResult } from '../../../agent/kv/index.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import type { PeerTransport } from '../../../transport/index.js';
import { linkKeysOf, roguePeer } from '../trust/helpers.js';

const RAFT = { electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600, heartbeatIntervalMs: 50 };
const HIGH = 1_000_000;
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('a gateway with valid link keys that is not a member', function () {
  this.timeout(120_000);
  let dir: string;
  let nodes: InitNode[] = [];
  let agents: Agent[] = [];
  const loggers = new Map<string, MemoryLogger>();
  let rogue: PeerTransport | null = null;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-nonmember-'));
    nodes = initCluster({
      dir,
      nodes: 3,
      initialMembers: 2,
      basePort: await findFreePorts(6),
      transport: 'coaps',
      storage: 'memory',
      force: true,
      configOverrides: () => ({ raft: RAFT, logging: { level: 'warning' } }),
    });
    for (const node of nodes.slice(0, 2)) {
      const logger = new MemoryLogger();
      loggers.set(node.id, logger);
      agents.push(await Agent.start(loadAgentConfig(node.config), REAL_FACTORIES, logger, new NoopMetrics()));
    }
  });

  after(async () => {
    await rogue?.client.close();
    for (const agent of agents) await agent.stop('test over');
    agents = [];
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused on every RPC, changes nothing, and is logged once per member', async () => {
    const deadline = Date.now() + 20_000;
    let leader: Agent | undefined;
    while ((leader = agents.find((a) => a.node.isLeader())) === undefined) {
      assert.ok(Date.now() < deadline, 'a leader');
      await new Promise((r) => setTimeout(r, 25));
    }
    const term = leader.node.getCurrentTerm();
    const keys = linkKeysOf(nodes[2]?.dir ?? assert.fail('no n3'));
    const byPort = (port: number): Uint8Array | null =>
      keys.get(agents.find((a) => a.config.listenPeer.port === port)?.config.nodeId ?? '') ?? null;
    rogue = roguePeer(
      'n3',
      byPort,
      agents.map((a) => ({ id: a.config.nodeId, address: `127.0.0.1:${a.config.listenPeer.port}` })),
    );
    const configuration = { voters: ['n1', 'n2', 'n3'], learners: [], oldVoters: null, members: [] };
    const write = encodeKvCommand({
      op: 'put',
      key: 'from-n3',
      value: new Uint8Array([1]),
      returnPrevious: false,
      session: null,
      timeMs: Date.now(),
    });
    const attacks: RequestMessage[] = [
      { type: 'PreVoteRequest', term: HIGH, candidateId: 'n3', lastLogIndex: HIGH, lastLogTerm: HIGH },
      {
        type: 'RequestVoteRequest',
        term: HIGH,
        candidateId: 'n3',
        lastLogIndex: HIGH,
        lastLogTerm: HIGH,
        transfer: true,
      },
      {
        type: 'AppendEntriesRequest',
        term: HIGH,
        leaderId: 'n3',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      },
      { type: 'TimeoutNowRequest', term: HIGH, leaderId: 'n3' },
      {
        type: 'InstallSnapshotRequest',
        term: HIGH,
        leaderId: 'n3',
        lastIncludedIndex: HIGH,
        lastIncludedTerm: HIGH,
        offset: 0,
        data: new Uint8Array(8),
        done: true,
        totalBytes: 8,
        configuration,
      },
      {
        type: 'ClientForwardRequest',
        sourceId: 'n3',
        kind: 'admin',
        payload: json({ op: 'add-member', id: 'n3', address: '127.0.0.1:9', learner: false, links: [] }),
        timeoutMs: 5000,
      },
      { type: 'ClientForwardRequest', sourceId: 'n3', kind: 'write', payload: write, timeoutMs: 5000 },
    ];
    // Each attack three times to each member, as a gateway that keeps trying.
    for (let round = 0; round < 3; round += 1)
      for (const agent of agents)
        for (const request of attacks)
          await assert.rejects(rogue.client.send(agent.config.nodeId, request, 3000), `${request.type} refused`);

    assert.equal(leader.node.isLeader(), true);
    assert.equal(leader.node.getCurrentTerm(), term);
    for (const agent of agents) {
      assert.equal(agent.node.getCurrentTerm(), term, `${agent.config.nodeId} kept its term`);
      assert.deepEqual(
        agent.node.getStatus().members.map((m) => m.id),
        ['n1', 'n2'],
      );
      const read = decodeKvResult(agent.node.readLocal(encodeKvQuery({ op: 'get', key: 'from-n3' })));
      assert.ok(read.type === 'get' && read.current === null, 'the forwarded write was not applied');
      const lines = (loggers.get(agent.config.nodeId)?.records ?? []).filter(
        (r) => r.level === 'warning' && r.fields.claimed === 'n3',
      );
      assert.deepEqual(
        lines.map((r) => r.message),
        ['refused a peer rpc: not a member of the cluster'],
        `${agent.config.nodeId} logs n3's refused RPCs once`,
      );
    }
  });
});
