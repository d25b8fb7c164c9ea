// Proves that a peer authenticated as one node cannot speak for another, against real agent
// processes over coaps (DTLS 1.2 PSK) and https (TLS 1.2 PSK): a NetworkClient that
// authenticates as n2 with the n2–n3 link key sends n3 a RequestVote and an AppendEntries claiming to
// come from n1, in a much later term (either would depose the leader if it were accepted). Both
// must fail with NET_AUTH (CoAP 4.03 / HTTP 403), n3 must log the refusal (once: the same peer
// refused for the same reason is one line), and no node's term or leader may change; a write still
// commits afterwards. As a control, the same client's
// RequestVote claiming n2 itself (in a stale term) is answered normally, so the refusal is
// about the claimed id, not about the connection.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcesses } from '../../agent/cli/agent-processes.js';
import { NetworkError } from '../../contracts/errors.js';
import type { NetworkClient } from '../../contracts/network.js';
import { createSerializer } from '../../codec/index.js';
import { DtlsClientEndpoint } from '../../transport/dtls/index.js';
import { createPeerTransport, type PeerTransportConfig } from '../../transport/index.js';
import { statuses, waitForAgreement, waitForApplied, writeKeys } from './cluster-load.js';

/** A client that authenticates as `identity` with `key` over `transport`. */
function impostorConfig(transport: 'coaps' | 'https', identity: string, key: Buffer): PeerTransportConfig {
  if (transport === 'coaps') {
    return {
      name: 'coaps',
      openServerEndpoint: () => Promise.reject(new Error('this client serves nothing')),
      openClientEndpoint: () => DtlsClientEndpoint.open({ identity, psk: key, bindAddress: '127.0.0.1' }),
    };
  }
  return {
    name: 'https',
    listenAddress: '127.0.0.1',
    listenPort: 0,
    clientCredentials: { identity, keyForPeer: () => key },
    serverCredentials: { keyForIdentity: () => null },
  };
}

async function refusal(promise: Promise<unknown>): Promise<NetworkError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NetworkError, `a NetworkError, got ${String(error)}`);
    return error;
  }
  assert.fail('the RPC was accepted');
}

describe('a peer claiming another node id than its PSK identity (agent processes)', function () {
  this.timeout(60_000);

  for (const transport of ['coaps', 'https'] as const) {
    it(`${transport}: is refused with NET_AUTH, logged, and leaves the cluster undisturbed`, async function () {
      const logs: string[] = [];
      const cluster = await AgentProcesses.create({
        transport,
        storage: 'memory',
        output: (id, chunk) => logs.push(`${id} ${chunk}`),
      });
      let client: NetworkClient | null = null;
      try {
        cluster.startAll();
        const ids = cluster.agents().map((a) => a.init.id);
        const leader = await cluster.waitForLeader(30_000);
        const dir = cluster.agent('n3').init.dir;
        const keystore: unknown = JSON.parse(readFileSync(join(dir, 'keystore.json'), 'utf8'));
        const n2Key = Buffer.from(String(Reflect.get(Object(keystore), 'n2')), 'hex');
        assert.equal(n2Key.length, 64, 'the n2–n3 link key (64 printable bytes)');
        const n3Config: unknown = JSON.parse(readFileSync(cluster.agent('n3').init.config, 'utf8'));
        const n3Address = String(Reflect.get(Object(Reflect.get(Object(n3Config), 'listen')), 'peer'));

        client = createPeerTransport(impostorConfig(transport, 'n2', n2Key), {
          serializer: createSerializer('cbor'),
        }).client;
        client.setPeers([{ id: 'n3', address: n3Address }]);
        const before = await waitForAgreement(cluster, ids, leader, 10_000);
        const term = before[0]?.term ?? 0;
        assert.ok(before.every((s) => s.term === term && s.leaderId === leader));

        const control = await client.send(
          'n3',
          { type: 'RequestVoteRequest', term: 0, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0, transfer: false },
          5000,
        );
        assert.equal(control.voteGranted, false);
        assert.equal(control.term, term);

        const vote = await refusal(
          client.send(
            'n3',
            {
              type: 'RequestVoteRequest',
              term: term + 10,
              candidateId: 'n1',
              lastLogIndex: 1_000_000,
              lastLogTerm: term + 9,
              transfer: true,
            },
            5000,
          ),
        );
        assert.equal(vote.code, 'NET_AUTH', vote.message);
        const append = await refusal(
          client.send(
            'n3',
            {
              type: 'AppendEntriesRequest',
              term: term + 10,
              leaderId: 'n1',
              prevLogIndex: 0,
              prevLogTerm: 0,
              entries: [],
              leaderCommit: 0,
            },
            5000,
          ),
        );
        assert.equal(append.code, 'NET_AUTH', append.message);

        const after = await statuses(cluster, ids);
        assert.deepEqual(
          after.map((s) => [s.term, s.leaderId]),
          ids.map(() => [term, leader]),
        );
        const written = await writeKeys({
          endpoints: [cluster.agent('n3').init.endpoint],
          prefix: 'after-',
          from: 0,
          count: 20,
          concurrency: 4,
        });
        await waitForApplied(cluster, ids, Math.max(...after.map((s) => s.commitIndex)) + written.written, 20_000);
        const n3Log = logs
          .filter((chunk) => chunk.startsWith('n3 '))
          .map((chunk) => chunk.slice(3))
          .join('');
        const refusals = n3Log
          .split('\n')
          .filter(
            (line) =>
              line.includes('refused a peer rpc') &&
              line.includes('"claimed":"n1"') &&
              line.includes('"identity":"n2"'),
          );
        // One line for both: a refusal of the same peer for the same reason is logged once (membership/refusal-log.ts).
        assert.equal(refusals.length, 1, `n3 logged the refusal once: ${refusals.join('\n')}`);
      } finally {
        await client?.close();
        await cluster.close();
      }
    });
  }
});
