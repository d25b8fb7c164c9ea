// Proves the node's side of backups (agent/backup/backup-service.ts) on virtual time:
// - who may take one: a command signed with the admin key, for this cluster, naming this node,
//   unexpired and used once; an unsigned, forged, foreign, misdirected, expired, replayed or
//   other command is refused (RAFT_FORBIDDEN) before anything is frozen, and so is every
//   command on a node without an admin key;
// - where it is taken: not before this node applied the index the leader answered the
//   linearizable read with (a lagging follower waits, and gives up with RAFT_TIMEOUT), at the
//   index it applied then; the read waits for a leader no longer than leaderWaitMs, whatever
//   the command's time, so a cluster without a quorum is answered 'no leader is known' soon;
// - how it is handed out: only to the client that began it, in order, the last chunk again on
//   a retry, an end after the trailer; at most transfersMax at once; forgotten after idleMs.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { BackupService, type BackupBegun, type BackupDeps } from '../../../agent/backup/backup-service.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { Driver } from '../kv/kv-helpers.js';

const NOW = 1_700_000_000_000;
const admin = generateKeyPairSync('ed25519');
const rogue = generateKeyPairSync('ed25519');

function sign(operation: AdminOperation, key: KeyObject = admin.privateKey, cluster = 'c1', nowMs = NOW): Uint8Array {
  return signAdminCommand(operation, cluster, key, nowMs, 300_000);
}

interface Setup {
  readonly service: BackupService;
  readonly timers: VirtualTimers;
  readonly local: Driver;
  readonly leader: Driver;
}

function setup(withAdmin = true): Setup {
  const timers = new VirtualTimers();
  const local = new Driver(new KvStateMachine());
  const leader = new Driver(new KvStateMachine());
  for (const driver of [local, leader]) for (let i = 0; i < 20; i += 1) driver.put(`k${i}`, `v${i}`);
  const sm = new TrustedStateMachine(local.sm, { cluster: 'c1', genesisAdminKey: admin.publicKey });
  const leaderSm = new TrustedStateMachine(leader.sm, { cluster: 'c1', genesisAdminKey: admin.publicKey });
  const deps: BackupDeps = {
    nodeId: 'n2',
    readAnywhere: (query) => Promise.resolve(leaderSm.query(query)),
    stateMachine: sm,
    termAt: () => 4,
    authority: withAdmin ? { cluster: 'c1', adminKey: () => admin.publicKey, nonceSeen: () => false } : null,
    timers,
    wallClockMs: () => NOW,
  };
  return {
    service: new BackupService(deps, { chunkBytes: 1024, transfersMax: 2, idleMs: 20_000 }),
    timers,
    local,
    leader,
  };
}

async function begin(s: Setup, envelope: Uint8Array, owner = 'me'): Promise<BackupBegun> {
  // Settled before time runs, so a rejection is handled as it happens.
  const started = s.service.begin(envelope, owner, 2000).then(
    (value) => ({ value, error: null }),
    (error: unknown) => ({ value: null, error }),
  );
  await s.timers.runUntil(s.timers.nowMs() + 3000);
  const { value, error } = await started;
  if (value === null) throw error;
  return value;
}

describe('BackupService', () => {
  it('refuses every command that is not a valid, fresh backup command for this node', async () => {
    const s = setup();
    const refusals: [string, Uint8Array][] = [
      ['unsigned', new TextEncoder().encode('{"v":1,"body":"{}","sig":""}')],
      ['signed by another key', sign({ op: 'backup', node: 'n2' }, rogue.privateKey)],
      ['for another cluster', sign({ op: 'backup', node: 'n2' }, admin.privateKey, 'c2')],
      ['naming another node', sign({ op: 'backup', node: 'n1' })],
      ['expired', sign({ op: 'backup', node: 'n2' }, admin.privateKey, 'c1', NOW - 600_000)],
      ['another operation', sign({ op: 'snapshot', node: 'n2' })],
    ];
    for (const [what, envelope] of refusals)
      await assert.rejects(s.service.begin(envelope, 'me', 1000), { code: 'RAFT_FORBIDDEN' }, what);
    assert.equal(s.service.active, 0);
    const once = sign({ op: 'backup', node: 'n2' });
    await begin(s, once);
    await assert.rejects(s.service.begin(once, 'me', 1000), /replayed nonce/);
    await assert.rejects(setup(false).service.begin(sign({ op: 'backup', node: 'n2' }), 'me', 1000), {
      code: 'RAFT_FORBIDDEN',
    });
  });

  it('waits until this node applied what the leader had, then freezes at the index it applied', async () => {
    const s = setup();
    for (let i = 0; i < 5; i += 1) s.leader.put(`late${i}`, 'x');
    const target = s.leader.sm.lastApplied;
    // The follower applies the leader's entries 50 ms later.
    s.timers.setTimer(50, () => {
      for (let i = 0; i < 5; i += 1) s.local.put(`late${i}`, 'x');
    });
    const begun = await begin(s, sign({ op: 'backup', node: 'n2' }));
    assert.equal(begun.header.index, target);
    assert.equal(begun.header.revision, target);
    assert.equal(begun.header.term, 4);
    assert.equal(begun.header.keyCount, 25);
  });

  it('gives up with RAFT_TIMEOUT when this node does not catch up in time', async () => {
    const s = setup();
    s.leader.put('ahead', 'x');
    await assert.rejects(begin(s, sign({ op: 'backup', node: 'n2' })), { code: 'RAFT_TIMEOUT' });
    assert.equal(s.service.active, 0);
  });

  it('waits for a leader no longer than leaderWaitMs, whatever the time the command has', async () => {
    const timers = new VirtualTimers();
    const local = new Driver(new KvStateMachine());
    const sm = new TrustedStateMachine(local.sm, { cluster: 'c1', genesisAdminKey: admin.publicKey });
    const asked: number[] = [];
    const deps: BackupDeps = {
      nodeId: 'n2',
      // No leader: the read fails once its time is up, as forwarding's does.
      readAnywhere: (_query, timeoutMs) => {
        asked.push(timeoutMs);
        return Promise.reject(Object.assign(new Error('no leader is known'), { code: 'RAFT_NOT_LEADER' }));
      },
      stateMachine: sm,
      termAt: () => 4,
      authority: { cluster: 'c1', adminKey: () => admin.publicKey, nonceSeen: () => false },
      timers,
      wallClockMs: () => NOW,
    };
    const service = new BackupService(deps);
    await assert.rejects(service.begin(sign({ op: 'backup', node: 'n2' }), 'me', 65_000), /no leader is known/);
    await assert.rejects(service.begin(sign({ op: 'backup', node: 'n2' }), 'me', 800), /no leader is known/);
    assert.deepEqual(asked, [5000, 800]);
    assert.equal(service.active, 0);
  });

  it('hands chunks to its client only, in order, again on a retry, then ends', async () => {
    const s = setup();
    const { id } = await begin(s, sign({ op: 'backup', node: 'n2' }));
    assert.deepEqual(s.service.chunk(id, 0, 'someone else'), { kind: 'unknown' });
    assert.deepEqual(s.service.chunk('f'.repeat(32), 0, 'me'), { kind: 'unknown' });
    assert.deepEqual(s.service.chunk(id, 1, 'me'), { kind: 'out-of-order', expected: 0 });
    const first = s.service.chunk(id, 0, 'me');
    assert.equal(first.kind, 'chunk');
    assert.deepEqual(s.service.chunk(id, 0, 'me'), first, 'a retry gets the same chunk');
    let n = 1;
    while (s.service.chunk(id, n, 'me').kind === 'chunk') n += 1;
    assert.equal(s.service.active, 0, 'the frozen state is released after the trailer');
    assert.deepEqual(s.service.chunk(id, n, 'me'), { kind: 'end' }, 'the end again on a retry');
  });

  it('runs at most transfersMax backups at once and forgets an idle one', async () => {
    const s = setup();
    const a = await begin(s, sign({ op: 'backup', node: 'n2' }));
    await begin(s, sign({ op: 'backup', node: 'n2' }));
    await assert.rejects(begin(s, sign({ op: 'backup', node: 'n2' })), { code: 'RAFT_BUSY' });
    await s.timers.runUntil(s.timers.nowMs() + 20_001);
    assert.equal(s.service.active, 0);
    assert.deepEqual(s.service.chunk(a.id, 0, 'me'), { kind: 'unknown' });
    await begin(s, sign({ op: 'backup', node: 'n2' }));
    assert.equal(s.service.active, 1);
    s.service.clear();
  });
});
