// Proves that a node's status lists each member at its configured address and, when the node
// reaches it elsewhere (an override from the member's own authenticated RPCs, peer-reach.ts),
// where it reaches it too; and that `coraft status` shows both in its member table.
import { strict as assert } from 'node:assert';
import { nodeStatusOf, type StatusCore } from '../../../agent/runtime/status.js';
import { memberRows, membersTable } from '../../../agent/cli/client-common.js';
import { JsonFields } from '../../../agent/cli/endpoint-client.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';

const config: ClusterConfiguration = {
  voters: ['n1', 'n2', 'n3'],
  learners: [],
  oldVoters: null,
  members: [
    { id: 'n1', address: '127.0.0.1:21060' },
    { id: 'n2', address: '127.0.0.1:21062' },
    { id: 'n3', address: '127.0.0.1:21064' },
  ],
};

const follower = {
  getRole: () => 'follower',
  getTerm: () => 2,
  getLeaderId: () => 'n1',
  getConfiguration: () => config,
  getProgress: () => [],
  getCommitIndex: () => 5,
  getAppliedIndex: () => 5,
  getLastIndex: () => 5,
  getSnapshotIndex: () => 0,
  getLogMemory: () => ({ firstIndex: 1, residentFromIndex: 1, residentBytes: 0, entriesReadBack: 0 }),
} as unknown as StatusCore;

const snapshots = { taken: 0, restored: 0, sendsStarted: 0, sendsCompleted: 0, sendsFailed: 0 };

describe('node status', () => {
  it('shows where a member is reached when that is not its configured address, in JSON and in the table', () => {
    const status = nodeStatusOf(follower, 'n3', snapshots, {
      keysRefused: null,
      reachedAt: [{ id: 'n2', address: '127.0.0.1:21072' }],
    });
    assert.deepEqual(
      status.members.map((m) => [m.id, m.address, m.reachedAt]),
      [
        ['n1', '127.0.0.1:21060', undefined],
        ['n2', '127.0.0.1:21062', '127.0.0.1:21072'],
        ['n3', '127.0.0.1:21064', undefined],
      ],
    );
    const document: unknown = JSON.parse(JSON.stringify(status));
    const table = membersTable(memberRows(JsonFields.of(document)), 'n1');
    assert.match(
      table,
      /n2 +127\.0\.0\.1:21062, reached at 127\.0\.0\.1:21072 \(override until the configuration records it\)/,
    );
    assert.match(table, /n1 +127\.0\.0\.1:21060 +voter \(leader\)/);
  });
});
