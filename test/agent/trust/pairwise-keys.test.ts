// Proves that a gateway's folder authenticates it and nothing else. A fleet is provisioned
// (`coraft provision`) and a local cluster written (`coraft cluster init`); real agents run
// from both (coaps, our DTLS server, memory storage). Then every key-looking string in each
// gateway's folder, read both as hex key bytes and as text, is tried with OpenSSL
// (`openssl s_client -dtls1_2 -psk HEX -psk_identity ID -cipher PSK-AES128-CCM8`) as every
// other member's identity against every member other than the two: every handshake fails.
// The same harness completes a handshake with the gateway's own identity and its own link key
// (the control), so a success would be seen. Needs openssl on the PATH.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';
import { provisionFleet } from '../../../agent/cli/provision.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import { candidateKeys, handshake, pool } from './helpers.js';

const RAFT = { electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600, heartbeatIntervalMs: 50 };

interface Member {
  readonly id: string;
  readonly folder: string;
  readonly peerPort: number;
}

describe("a gateway's folder holds no key that authenticates it as another member", function () {
  this.timeout(300_000);
  let dir: string;
  const agents: Agent[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-pairwise-'));
  });

  after(async () => {
    for (const agent of agents) await agent.stop('test over');
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(members: readonly Member[]): Promise<void> {
    for (const m of members)
      agents.push(
        await Agent.start(
          loadAgentConfig(join(m.folder, 'agent.json')),
          REAL_FACTORIES,
          new MemoryLogger(),
          new NoopMetrics(),
        ),
      );
  }

  async function sweep(members: readonly Member[]): Promise<void> {
    for (const holder of members) {
      const candidates = candidateKeys(holder.folder);
      assert.ok(candidates.length >= 4, `${holder.id}'s folder has keys to try`);
      const others = members.filter((m) => m.id !== holder.id);
      // The control: with its own identity, some key of the folder reaches each other member.
      for (const target of others) {
        const reached = await pool(
          candidates.map((key) => () => handshake(target.peerPort, holder.id, key)),
          4,
        );
        assert.ok(reached.includes(true), `control: ${holder.id}'s folder authenticates it toward ${target.id}`);
      }
      const attempts = others.flatMap((victim) =>
        others
          .filter((t) => t.id !== victim.id)
          .flatMap((t) =>
            candidates.map((key) => async () => ({
              victim: victim.id,
              target: t.id,
              key,
              ok: await handshake(t.peerPort, victim.id, key),
            })),
          ),
      );
      const results = await pool(attempts, 4);
      const succeeded = results.filter((r) => r.ok).map((r) => `as ${r.victim} toward ${r.target}`);
      assert.deepEqual(succeeded, [], `a key from ${holder.id}'s folder authenticated it as another member`);
      assert.ok(results.length >= 2 * candidates.length, `tried ${results.length} handshakes`);
    }
  }

  it('in a provisioned fleet (every bundle, every other identity)', async () => {
    const base = await findFreePorts(6);
    const gateways = [1, 2, 3].map((i) => ({
      id: `gw${i}`,
      address: `127.0.0.1:${base + 2 * (i - 1)}`,
      overrides: {
        endpoint: `127.0.0.1:${base + 2 * (i - 1) + 1}`,
        listenHost: '127.0.0.1',
        dataDir: 'data',
        storage: 'memory',
        raft: RAFT,
        logging: { level: 'warning' },
      },
    }));
    writeFileSync(join(dir, 'fleet.json'), JSON.stringify({ cluster: 'sweep', gateways }));
    provisionFleet(join(dir, 'fleet.json'), join(dir, 'out'));
    const members = gateways.map((g, i) => ({
      id: g.id,
      folder: join(dir, 'out', 'bundles', g.id),
      peerPort: base + 2 * i,
    }));
    await start(members);
    await sweep(members);
  });

  it('in a `cluster init` folder (every node folder, every other identity)', async () => {
    const base = await findFreePorts(6);
    const nodes = initCluster({
      dir: join(dir, 'init'),
      nodes: 3,
      basePort: base,
      transport: 'coaps',
      storage: 'memory',
      force: true,
      configOverrides: () => ({ raft: RAFT, logging: { level: 'warning' } }),
    });
    const members = nodes.map((n, i) => ({ id: n.id, folder: n.dir, peerPort: base + 2 * i }));
    await start(members);
    await sweep(members);
  });
});
