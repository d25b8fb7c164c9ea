// Proves the plan and the write of `coraft recover --force-new-cluster`
// (agent/runtime/force-new-cluster.ts) on a real wal engine: with a commit marker at 7 and a log
// up to 10, it keeps entries 1 to 7, counts 3 uncommitted entries dropped, appends a
// configuration entry of this member alone at 8 under the first term of the next recovery epoch
// (1000000000: above every term seen, and of an epoch no member left out can reach), and votes
// for itself; a core started from the rewritten disk is a one-voter cluster that elects itself
// and commits the kept entries and the configuration entry. Also: the kept prefix never goes
// below the snapshot nor beyond the log, the marker round-trips, a member that is not a voter
// (or is a witness: it holds no values) is refused, and a plan with nothing to drop writes no
// truncation.
import { refOf } from '../core/snapshot-chunks.js';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RaftCore } from '../../../agent/core/raft.js';
import { decodeConfiguration, encodeConfiguration, simpleConfiguration } from '../../../agent/core/configuration.js';
import { planForceNewCluster, recoveryBatch } from '../../../agent/runtime/force-new-cluster.js';
import { COMMIT_MARKER_FILE, readCommitMarker, writeCommitMarker } from '../../../agent/runtime/commit-marker.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { SeededPrng } from '../../../contracts/prng.js';
import type { LogEntry } from '../../../contracts/log.js';
import type { PersistedState } from '../../../contracts/persistence.js';
import { TEST_OPTIONS } from '../core/core-cluster.js';
import { entry, makeTempDir, removeDir, walTestOptions } from '../../storage/helpers.js';

const THREE = simpleConfiguration(
  ['a', 'b', 'c'],
  [
    { id: 'a', address: '127.0.0.1:1' },
    { id: 'b', address: '127.0.0.1:2' },
    { id: 'c', address: '127.0.0.1:3' },
  ],
);

function configEntry(index: number, term: number): LogEntry {
  return { term, index, type: 'config', command: encodeConfiguration(THREE) };
}

describe('recover --force-new-cluster: plan and write', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
  });

  it('keeps what the marker says committed, drops the rest, leaves a one-voter cluster electing itself', async () => {
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    const entries = [configEntry(1, 1), ...Array.from({ length: 9 }, (_, i) => entry(i + 2, i < 5 ? 1 : 2))];
    await engine.persist({
      snapshot: null,
      truncateFrom: null,
      entries,
      compactBefore: null,
      hardState: { currentTerm: 3, votedFor: 'b' },
    });
    writeCommitMarker(dir, 7);
    assert.equal(readCommitMarker(dir), 7);
    const plan = planForceNewCluster(await engine.load(), 'a', readCommitMarker(dir), THREE);
    assert.equal(plan.commitIndex, 7);
    assert.equal(plan.droppedCount, 3);
    assert.equal(plan.configIndex, 8);
    assert.equal(plan.newTerm, 1_000_000_000, 'the first term of recovery epoch 1, above the stored term 3');
    assert.deepEqual(plan.removed, ['b', 'c']);
    assert.deepEqual(plan.next.members, [{ id: 'a', address: '127.0.0.1:1' }]);
    await engine.persist(recoveryBatch(plan));
    await engine.close();

    const reopened = await WalPersistenceEngine.open(walTestOptions(dir));
    const state = await reopened.load();
    await reopened.close();
    assert.deepEqual(state.hardState, { currentTerm: 1_000_000_000, votedFor: 'a' });
    assert.deepEqual(
      state.entries.map((e) => [e.index, e.term, e.type]),
      [...entries.slice(0, 7).map((e) => [e.index, e.term, e.type]), [8, 1_000_000_000, 'config']],
    );
    assert.deepEqual(state.entries.slice(0, 7), entries.slice(0, 7), 'every kept entry is byte-identical');
    assert.deepEqual(decodeConfiguration(state.entries[7]?.command ?? new Uint8Array(0))?.voters, ['a']);

    // A core started from that disk (the other members gone) elects itself and commits everything kept.
    const core = new RaftCore(
      { prng: new SeededPrng(5) },
      { ...TEST_OPTIONS, id: 'a' },
      { ...state, snapshot: refOf(state.snapshot), bootstrap: THREE },
    );
    assert.deepEqual(core.getConfiguration().voters, ['a']);
    for (let tick = 0; tick < 100 && core.getRole() !== 'leader'; tick += 1) {
      core.tick();
      while (core.hasReady()) core.advance(core.takeReady());
    }
    assert.equal(core.getRole(), 'leader');
    while (core.hasReady()) core.advance(core.takeReady());
    assert.ok(core.getCommitIndex() >= 9, `commit index ${core.getCommitIndex()} covers the configuration entry`);
  });

  it('keeps at least the snapshot, at most the log, and drops nothing when all is committed', () => {
    const state: PersistedState = {
      hardState: { currentTerm: 2, votedFor: null },
      snapshot: { lastIncludedIndex: 5, lastIncludedTerm: 2, configuration: THREE, data: new Uint8Array(0) },
      entries: [entry(6, 2), entry(7, 2)],
    };
    assert.equal(planForceNewCluster(state, 'b', null, THREE).commitIndex, 5, 'no marker: the snapshot');
    assert.equal(planForceNewCluster(state, 'b', 3, THREE).commitIndex, 5, 'a marker below the snapshot');
    const all = planForceNewCluster(state, 'b', 99, THREE);
    assert.equal(all.commitIndex, 7, 'a marker beyond the log: the log');
    assert.equal(all.droppedCount, 0);
    assert.equal(recoveryBatch(all).truncateFrom, null);
    assert.equal(recoveryBatch(planForceNewCluster(state, 'b', 6, THREE)).truncateFrom, 7);
    // --keep-uncommitted keeps the whole log, and says how much of it was not known committed.
    const kept = planForceNewCluster(state, 'b', null, THREE, true);
    assert.equal(kept.knownCommitIndex, 5);
    assert.equal(kept.commitIndex, 7);
    assert.equal(kept.keptUncommittedCount, 2);
    assert.equal(kept.droppedCount, 0);
    assert.equal(recoveryBatch(kept).truncateFrom, null);
    assert.equal(recoveryBatch(kept).entries[0]?.index, 8);
  });

  it('moves a cluster recovered before into the epoch after its own', () => {
    const state: PersistedState = {
      hardState: { currentTerm: 1_000_000_005, votedFor: 'a' },
      snapshot: null,
      entries: [entry(1, 3), entry(2, 1_000_000_004)],
    };
    assert.equal(planForceNewCluster(state, 'a', 2, THREE).newTerm, 2_000_000_000);
  });

  it('refuses a member that is not a voter, a witness, and a marker that is not one', () => {
    const state: PersistedState = { hardState: { currentTerm: 1, votedFor: null }, snapshot: null, entries: [] };
    assert.throws(() => planForceNewCluster(state, 'z', null, THREE), { code: 'CONFIG_INVALID' });
    const witnessed = simpleConfiguration(['a', 'b', 'c'], THREE.members, ['c']);
    assert.throws(() => planForceNewCluster(state, 'c', null, witnessed), /c is a witness: it holds no values/);
    assert.equal(planForceNewCluster(state, 'a', null, witnessed).next.witnesses, undefined);
    writeFileSync(join(dir, COMMIT_MARKER_FILE), '{"appliedIndex": -1}');
    assert.throws(() => readCommitMarker(dir), { code: 'STORAGE_CORRUPT' });
    writeFileSync(join(dir, COMMIT_MARKER_FILE), 'garbage');
    assert.throws(() => readCommitMarker(dir), { code: 'STORAGE_CORRUPT' });
  });
});
