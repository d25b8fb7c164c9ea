// Proves the background snapshot (agent/runtime/snapshot-job.ts) in virtual time, deterministically:
// - a 2 MiB store is captured, then encoded and handed to storage in 256 KiB chunks, one per step,
//   while a timer keeps applying writes (overwrites, deletes, new keys) between the steps: the
//   applies do go on during the encoding (one per chunk), and the snapshot storage
//   holds is byte for byte snapshot() as of the capture, and restores to the state at the
//   captured index (a value overwritten during the encoding reads as it was);
// - a snapshot persisted meanwhile (the leader's) supersedes the job: its commit changes
//   nothing and the newer snapshot stays; one stored at a later index refuses the commit too;
// - a job dropped midway aborts: nothing is stored.
import { strict as assert } from 'node:assert';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { SNAPSHOT_CHUNK_BYTES, SnapshotJob } from '../../../agent/runtime/snapshot-job.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import type { SnapshotWriter } from '../../../contracts/persistence.js';
import { EMPTY_BATCH, MemoryPersistenceEngine } from '../../../storage/memory.js';
import { Driver, bytes, textOf } from '../kv/kv-helpers.js';

const KEYS = 512;
const VALUE_BYTES = 4096;

/** A memory engine that counts the chunks its snapshot writers take. */
class CountingStorage extends MemoryPersistenceEngine {
  chunks = 0;
  begun = 0;
  override beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    this.begun += 1;
    const writer = super.beginSnapshot(meta, totalBytes);
    return {
      write: (chunk) => {
        this.chunks += 1;
        return writer.write(chunk);
      },
      commit: () => writer.commit(),
      abort: () => writer.abort(),
    };
  }
}

function loaded(): Driver {
  const driver = new Driver(new KvStateMachine());
  for (let i = 0; i < KEYS; i += 1) driver.put(`key${i}`, String(i % 10).repeat(VALUE_BYTES));
  return driver;
}

function metaAt(index: number): SnapshotMeta {
  return { lastIncludedIndex: index, lastIncludedTerm: 1, configuration: simpleConfiguration(['a']) };
}

/** Starts `job` on `driver`'s state and keeps applying writes, one per timer step, until it ends. */
async function runWithApplies(
  job: SnapshotJob,
  driver: Driver,
  storage: MemoryPersistenceEngine,
  timers: VirtualTimers,
  during: () => void = () => undefined,
): Promise<number> {
  const done = job.run(driver.sm.captureSnapshot(), storage, timers);
  let applied = 0;
  const applyOne = (): void => {
    if (job.state !== 'running') return;
    const n = applied;
    if (n % 3 === 0) driver.put(`key${n % KEYS}`, 'overwritten');
    else if (n % 3 === 1) driver.run({ op: 'delete', key: `key${(n * 7) % KEYS}`, returnPrevious: false });
    else driver.put(`new${n}`, 'n'.repeat(100));
    applied += 1;
    if (applied === 5) during();
    // From a continuation, as the job's own steps are: each round of the instant runs one of each.
    queueMicrotask(() => timers.setTimer(0, applyOne));
  };
  timers.setTimer(0, applyOne);
  await timers.runUntil(10_000, () => job.state === 'running');
  await done;
  return applied;
}

describe('a background snapshot (snapshot-job.ts)', () => {
  it('is encoded in chunks while applies go on, and stores the state as of the capture', async () => {
    const timers = new VirtualTimers();
    const storage = new CountingStorage({ timers });
    const driver = loaded();
    const index = driver.sm.lastApplied;
    const expected = Buffer.from(driver.sm.snapshot());
    const job = new SnapshotJob(metaAt(index), 0, 0);
    const applied = await runWithApplies(job, driver, storage, timers);

    assert.equal(job.state, 'durable');
    const chunks = Math.ceil(expected.byteLength / SNAPSHOT_CHUNK_BYTES);
    assert.ok(chunks >= 8, `a ${expected.byteLength}-byte image takes ${chunks} chunks`);
    assert.equal(storage.chunks, chunks);
    assert.ok(applied >= chunks, `writes were applied during the encoding (${applied} for ${chunks} chunks)`);
    assert.ok(driver.sm.lastApplied > index);
    const stored = storage.disk.snapshot;
    assert.ok(stored !== null);
    assert.equal(stored.lastIncludedIndex, index);
    assert.equal(job.dataBytes, expected.byteLength);
    assert.ok(Buffer.from(stored.data).equals(expected), 'the stored image is snapshot() as of the capture');

    const restored = new Driver(new KvStateMachine());
    restored.sm.restore(stored, stored.data);
    assert.equal(restored.sm.lastApplied, index);
    assert.equal(textOf(restored.get('key0')), '0'.repeat(VALUE_BYTES));
    assert.equal(textOf(restored.get('new2')), null);
    assert.equal(textOf(driver.get('key0')), 'overwritten');
  });

  it('is superseded by a snapshot persisted meanwhile, or by a newer one stored', async () => {
    const timers = new VirtualTimers();
    const storage = new MemoryPersistenceEngine({ timers });
    const driver = loaded();
    const index = driver.sm.lastApplied;
    const newer = { ...metaAt(index + 100), data: bytes('from the leader') };
    const job = new SnapshotJob(metaAt(index), 0, 0);
    await runWithApplies(job, driver, storage, timers, () => {
      void storage.persist({ ...EMPTY_BATCH, snapshot: newer });
    });
    assert.equal(job.state, 'superseded');
    assert.equal(storage.disk.snapshot?.lastIncludedIndex, index + 100);

    const late = new SnapshotJob(metaAt(index + 50), 0, 0);
    await runWithApplies(late, driver, storage, timers);
    assert.equal(late.state, 'superseded', 'an image older than the stored one is never committed');
    assert.deepStrictEqual(storage.disk.snapshot?.data, newer.data);
  });

  it('stores nothing when dropped midway', async () => {
    const timers = new VirtualTimers();
    const storage = new CountingStorage({ timers });
    const driver = loaded();
    const job = new SnapshotJob(metaAt(driver.sm.lastApplied), 0, 0);
    await runWithApplies(job, driver, storage, timers, () => job.drop());
    assert.equal(job.state, 'superseded');
    assert.ok(storage.chunks >= 1 && storage.chunks < 8, `dropped after ${storage.chunks} chunks`);
    assert.equal(storage.disk.snapshot, null);
  });

  it('begins no writer when dropped before its first bytes (it would abort the one that dropped it)', async () => {
    const timers = new VirtualTimers();
    const storage = new CountingStorage({ timers });
    const driver = loaded();
    const job = new SnapshotJob(metaAt(driver.sm.lastApplied), 0, 0);
    const done = job.run(driver.sm.captureSnapshot(), storage, timers);
    // The writer that dropped it: a snapshot from the leader being received.
    job.drop();
    const leader = storage.beginSnapshot(metaAt(driver.sm.lastApplied + 10), 3);
    await timers.runUntil(10_000, () => job.state === 'running');
    await done;
    assert.equal(job.state, 'superseded');
    assert.equal(storage.begun, 1, 'only the writer of the snapshot from the leader was begun');
    await leader.write(new Uint8Array(3));
    assert.equal(await leader.commit(), true, 'the writer of the snapshot from the leader is still open');
  });
});
