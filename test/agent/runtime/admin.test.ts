// Proves the leader's side of signed admin commands (AdminRunner) with a fake node: a valid
// add-member is proposed as an admin entry and only then drives the membership change; an
// unsigned, forged, foreign or expired command and a replay are refused before anything is
// proposed; a refusal at apply is reported; leader transfer and snapshot, which are not log
// entries, are verified by the node that acts, run once (a local replay cache), and a snapshot
// command naming another node is refused; a command that failed because this node did not lead
// may be retried on the next leader. An add at an address where the peer transport's address book
// reaches another member or the leader itself (a host name and its literal) is refused naming it.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { NotLeaderError } from '../../../contracts/errors.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { AdminRunner, adminRefusalLog, decodeAdminResult, type AdminHost } from '../../../agent/runtime/admin.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { decodeAdminEntry, encodeAdminApplyResult } from '../../../agent/trust/trust-codec.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';
import { PeerBook } from '../../../transport/peer-book.js';

const admin = generateKeyPairSync('ed25519');
const intruder = generateKeyPairSync('ed25519');
const NOW = 1_700_000_000_000;

interface SetupOptions {
  applyOk?: boolean;
  leads?: () => boolean;
  configuration?: ClusterConfiguration;
  book?: PeerBook;
}

function setup(options: SetupOptions = {}) {
  const calls: string[] = [];
  const seen = new Set<string>();
  const host: AdminHost = {
    getNodeId: () => 'n1',
    getLeaderId: () => 'n1',
    getConfiguration: () => options.configuration ?? simpleConfiguration(['n1', 'n2', 'n3']),
    submitCommand: (command) => {
      if (options.leads !== undefined && !options.leads()) return Promise.reject(new NotLeaderError('n2'));
      const entry = decodeAdminEntry(command);
      calls.push(`propose ${entry === null ? 'not an admin entry' : 'admin entry'}`);
      return Promise.resolve(
        encodeAdminApplyResult(options.applyOk === false ? { ok: false, reason: 'refused at apply' } : { ok: true }),
      );
    },
    addServer: (id) => (calls.push(`add ${id}`), Promise.resolve(true)),
    removeServer: (id) => (calls.push(`remove ${id}`), Promise.resolve(true)),
    transferLeadership: (to) => {
      if (options.leads !== undefined && !options.leads()) return Promise.reject(new NotLeaderError('n2'));
      calls.push(`transfer ${to ?? 'any'}`);
      return Promise.resolve('n2');
    },
    snapshotNow: () => (calls.push('snapshot'), Promise.resolve(42)),
    reachedAt: (address) => options.book?.reachedAt(address) ?? Promise.resolve(null),
  };
  const refusals: string[] = [];
  const runner = new AdminRunner(
    host,
    { cluster: 'c', adminKey: () => admin.publicKey, nonceSeen: (n) => seen.has(n) },
    (reason) => refusals.push(reason),
    () => NOW,
  );
  return { runner, calls, seen, refusals };
}

const sign = (
  operation: AdminOperation,
  key = admin.privateKey,
  cluster = 'c',
  at = NOW,
  validMs = 60_000,
): Uint8Array => signAdminCommand(operation, cluster, key, at, validMs);
const add: AdminOperation = { op: 'add-member', id: 'n4', address: '127.0.0.1:9', learner: false, links: [] };

describe('AdminRunner: signed admin commands on the node that acts', () => {
  it('proposes a signed add-member as an admin entry, then adds the member', async () => {
    const { runner, calls } = setup();
    const result = decodeAdminResult(await runner.runOnLeader(sign(add), 5000));
    assert.equal(result.leader, 'n1');
    assert.deepEqual(calls, ['propose admin entry', 'add n4']);
  });

  it('refuses unsigned, forged, foreign, expired and replayed commands before proposing anything', async () => {
    const { runner, calls, refusals } = setup();
    const unsigned = new TextEncoder().encode(
      JSON.stringify({ op: 'add-member', id: 'n4', address: 'h:1', learner: false }),
    );
    const cases: [string, Uint8Array, RegExp][] = [
      ['unsigned', unsigned, /refused admin command/],
      ['forged', sign(add, intruder.privateKey), /signature/],
      ['foreign', sign(add, admin.privateKey, 'other'), /cluster/],
      ['expired', sign(add, admin.privateKey, 'c', NOW - 120_000), /expired/],
    ];
    for (const [name, payload, reason] of cases)
      await assert.rejects(
        runner.runOnLeader(payload, 5000),
        (e: unknown) => e instanceof Error && 'code' in e && e.code === 'RAFT_FORBIDDEN' && reason.test(e.message),
        name,
      );
    const once = sign({ op: 'remove-member', id: 'n3' });
    await runner.runOnLeader(once, 5000);
    await assert.rejects(runner.runOnLeader(once, 5000), /replayed/);
    assert.deepEqual(calls, ['propose admin entry', 'remove n3']);
    assert.equal(refusals.length, 5, 'every refusal is reported, to be logged');
    assert.match(refusals[4] ?? '', /replayed/);
  });

  it('logs refused admin commands once per reason, then once a minute with the count', () => {
    const logger = new MemoryLogger();
    let now = 0;
    const refused = adminRefusalLog(logger, 'n1', { nowMs: () => now });
    for (let i = 0; i < 50; i += 1) refused('refused admin command: the signature does not verify');
    refused('refused admin command: it was used already (replayed nonce)');
    const lines = () => logger.records.filter((r) => r.level === 'warning' && r.message === 'refused an admin command');
    assert.deepEqual(
      lines().map((r) => r.fields.reason),
      [
        'refused admin command: the signature does not verify',
        'refused admin command: it was used already (replayed nonce)',
      ],
    );
    now += 60_000;
    refused('refused admin command: the signature does not verify');
    assert.equal(lines().length, 3);
    assert.equal(lines().at(-1)?.fields.suppressed, 49);
  });

  it('reports a refusal at apply and changes no membership', async () => {
    const { runner, calls, refusals } = setup({ applyOk: false });
    await assert.rejects(runner.runOnLeader(sign(add), 5000), /refused at apply/);
    assert.deepEqual(calls, ['propose admin entry']);
    assert.equal(refusals.length, 1, 'reported, to be logged');
    assert.match(refusals[0] ?? '', /refused at apply/);
  });

  it('runs a transfer once, a snapshot once and only on the node it names', async () => {
    const { runner, calls } = setup();
    const transfer = sign({ op: 'transfer-leadership', to: null });
    assert.equal(decodeAdminResult(await runner.runOnLeader(transfer, 5000)).leader, 'n2');
    await assert.rejects(runner.runOnLeader(transfer, 5000), /replayed/);
    assert.equal(await runner.snapshotHere(sign({ op: 'snapshot', node: 'n1' })), 42);
    await assert.rejects(runner.snapshotHere(sign({ op: 'snapshot', node: 'n2' })), /names n2, not this node/);
    await assert.rejects(runner.snapshotHere(sign(add)), /expected a signed snapshot command/);
    await assert.rejects(runner.runOnLeader(sign({ op: 'snapshot', node: 'n1' }), 5000), /runs on the node it names/);
    assert.deepEqual(calls, ['transfer any', 'snapshot']);
  });

  it('forgets a command that failed because this node did not lead, so the next leader may run it', async () => {
    let leads = false;
    const { runner, calls } = setup({ leads: () => leads });
    const command = sign(add);
    await assert.rejects(runner.runOnLeader(command, 5000), NotLeaderError);
    leads = true;
    await runner.runOnLeader(command, 5000);
    assert.deepEqual(calls, ['propose admin entry', 'add n4']);
  });

  it('refuses a membership command that would change nothing, or share an address, before proposing it', async () => {
    const members = ['n1', 'n2', 'n3'].map((id, i) => ({ id, address: `127.0.0.1:${21000 + 2 * i}` }));
    const configuration: ClusterConfiguration = {
      ...simpleConfiguration(['n1', 'n2', 'n3'], members),
      learners: ['n4'],
      members: [...members, { id: 'n4', address: '127.0.0.1:21006' }],
    };
    const { runner, calls } = setup({ configuration });
    const cases: [string, AdminOperation, RegExp][] = [
      ['remove of a non-member', { op: 'remove-member', id: 'n9' }, /n9 is not a member \(members: n1, n2, n3, n4\)/],
      ['add of a voter', { ...add, id: 'n2', address: '127.0.0.1:21002' }, /n2 is already a member \(voter at/],
      [
        'add of a learner as a learner',
        { ...add, id: 'n4', address: '127.0.0.1:21006', learner: true },
        /members rekey/,
      ],
      ['add at a taken address', { ...add, id: 'n5', address: '127.0.0.1:21002' }, /n2 is reached there/],
      ['rekey of a non-member', { op: 'rekey-member', id: 'n9', links: [] }, /add it instead/],
    ];
    for (const [name, operation, reason] of cases)
      await assert.rejects(
        runner.runOnLeader(sign(operation), 5000),
        (e: unknown) => e instanceof Error && 'code' in e && e.code === 'RAFT_MEMBERSHIP' && reason.test(e.message),
        name,
      );
    const alone = setup({ configuration: simpleConfiguration(['n1']) });
    await assert.rejects(
      alone.runner.runOnLeader(sign({ op: 'remove-member', id: 'n1' }), 5000),
      /n1 is the only voter: a cluster cannot remove its last voter/,
    );
    assert.deepEqual([...calls, ...alone.calls], [], 'nothing was proposed');
    // A learner that an interrupted add left behind may still be made a voter.
    await runner.runOnLeader(sign({ ...add, id: 'n4', address: '127.0.0.1:21006' }), 5000);
    assert.deepEqual(calls, ['propose admin entry', 'add n4']);
  });

  it('refuses an add where the address book reaches another member or the leader, naming it', async () => {
    const members = [
      { id: 'n1', address: '127.0.0.1:21000' },
      { id: 'n2', address: 'gw2.local:21002' },
      { id: 'n3', address: '127.0.0.1:21004' },
    ];
    const names: Record<string, string> = { localhost: '127.0.0.1', 'gw2.local': '10.0.0.2' };
    const book = new PeerBook(
      (host) => Promise.resolve(names[host.toLowerCase()] ?? ''),
      30_000,
      () => 0,
      '127.0.0.1:21000',
    );
    book.set(members.filter((m) => m.id !== 'n1'));
    const { runner, calls } = setup({ configuration: simpleConfiguration(['n1', 'n2', 'n3'], members), book });
    const cases: [string, RegExp][] = [
      [
        'localhost:21004',
        /^cannot add n4 at localhost:21004: n3 is reached there \(each member needs its own address\)$/,
      ],
      ['10.0.0.2:21002', /: n2 is reached there/],
      ['LOCALHOST:21000', /: n1 \(the leader\) is reached there/],
    ];
    for (const [address, reason] of cases)
      await assert.rejects(
        runner.runOnLeader(sign({ ...add, address }), 5000),
        (e: unknown) => e instanceof Error && 'code' in e && e.code === 'RAFT_MEMBERSHIP' && reason.test(e.message),
        address,
      );
    assert.deepEqual(calls, [], 'nothing was proposed');
    await runner.runOnLeader(sign({ ...add, address: 'localhost:21006' }), 5000);
    assert.deepEqual(calls, ['propose admin entry', 'add n4']);
  });

  it('refuses everything when the node has no admin key configured', async () => {
    const runner = new AdminRunner({} as AdminHost, null);
    await assert.rejects(runner.runOnLeader(sign(add), 5000), /admin operations are disabled/);
  });
});
