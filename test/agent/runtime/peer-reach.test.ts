// Proves the node's address book with overrides (agent/runtime/peer-reach.ts): the transport's
// book gets the configuration's peers with each moved one where its authenticated RPCs said it
// listens, and the membership manager's view of a configuration (for the DTLS client's choice of
// link key) the same; a configuration that records the address ends the override. It asks the
// transport's book who is reached at an address (an add is refused there before it is proposed).
import { strict as assert } from 'node:assert';
import { PeerReach } from '../../../agent/runtime/peer-reach.js';
import type { ClusterMember } from '../../../contracts/log.js';
import type { DiagnosticLogger } from '../../../contracts/logger.js';
import type { NetworkClient } from '../../../contracts/network.js';

const peers: readonly ClusterMember[] = [
  { id: 'n2', address: '127.0.0.1:7002' },
  { id: 'n3', address: '127.0.0.1:7003' },
  { id: 'n4', address: 'gw4.local:5684' },
];

function moved(id: string, address: string, members = peers): ClusterMember[] {
  return members.map((m) => (m.id === id ? { ...m, address } : m));
}

describe('PeerReach', () => {
  const lines: string[] = [];
  const note = (message: string): void => void lines.push(message);
  const logger: DiagnosticLogger = {
    log: note,
    trace: note,
    debug: note,
    info: note,
    warning: note,
    error: note,
    critical: note,
  };
  function fakeClient(): { client: NetworkClient; books: ClusterMember[][] } {
    const books: ClusterMember[][] = [];
    const client: NetworkClient = {
      send: () => Promise.reject(new Error('not sent')),
      setPeers: (members) => void books.push([...members]),
      close: () => Promise.resolve(),
    };
    return { client, books };
  }

  it("gives the transport the configuration's peers with where each moved one said it listens", () => {
    const { client, books } = fakeClient();
    const reach = new PeerReach(client, logger, 'n1');
    reach.setPeers(peers);
    reach.advertised('n2', '127.0.0.1:7102');
    assert.deepEqual(books.at(-1), moved('n2', '127.0.0.1:7102'));
    assert.deepEqual(reach.overridden(), [{ id: 'n2', address: '127.0.0.1:7102' }], 'what a new leader records');
    const config = { voters: ['n1', 'n2', 'n3'], learners: ['n4'], oldVoters: null, members: peers };
    assert.deepEqual(reach.reachable(config).members, moved('n2', '127.0.0.1:7102'));
    assert.deepEqual(reach.reachable(config).voters, config.voters);
    reach.setPeers(moved('n3', '127.0.0.1:7103'));
    assert.deepEqual(books.at(-1), moved('n2', '127.0.0.1:7102', moved('n3', '127.0.0.1:7103')));
    reach.setPeers(moved('n2', '127.0.0.1:7102'));
    assert.deepEqual(books.at(-1), moved('n2', '127.0.0.1:7102'));
    assert.equal(reach.reachable(config), config, 'no override left');
    assert.deepEqual(reach.overridden(), []);
    const count = books.length;
    reach.advertised('n2', '127.0.0.1:7102');
    assert.equal(books.length, count, 'the configured address: the book stays');
  });

  it("asks the transport's book who is reached at an address", async () => {
    const { client } = fakeClient();
    const reach = new PeerReach({ ...client, reachedAt: (a) => Promise.resolve({ peer: `at ${a}` }) }, logger, 'n1');
    assert.deepEqual(await reach.reachedAt('localhost:7002'), { peer: 'at localhost:7002' });
    assert.equal(await new PeerReach(client, logger, 'n1').reachedAt('localhost:7002'), null, 'a book without it');
  });
});
