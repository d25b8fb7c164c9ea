// Proves how the write-ahead-log engine's checkpoint applies a log compaction and what it keeps
// drained while a snapshot streams (storage/wal/wal-checkpoint-compaction.ts, wal-checkpoint.ts):
// - a compaction larger than walCheckpointDeletesPerTxnMax is deleted ahead of its record in
//   pieces of that many entries, and the log it leaves loads as the compacted log;
// - a crash after some pieces (LMDB's log has a prefix deleted, the record is still in the log)
//   reopens to the compacted log, every entry kept;
// - while a snapshot writer is open, records are checkpointed without waiting for
//   walCheckpointBytes of them, so that the snapshot's commit finds the log drained.
import { strict as assert } from 'node:assert';
import type { Metrics } from '../../../contracts/metrics.js';
import type { PersistBatch } from '../../../contracts/persistence.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import type { WalPersistenceOptions } from '../../../storage/wal/wal-options.js';
import { CONFIGURATION, crashCopy, entries, makeTempDir, removeDir, snapshot, walTestOptions } from '../helpers.js';
import { scaledMs } from '../../timing.js';

/** Calls `onIncrement` with each counter's name and running count. */
class HookedMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  constructor(private readonly onIncrement: (name: string, count: number) => void = () => undefined) {}
  increment(name: string): void {
    const count = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, count);
    this.onIncrement(name, count);
  }
  count(name: string): number {
    return this.counts.get(name) ?? 0;
  }
  observe(): void {}
  setGauge(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

const PIECES = 'storage_compaction_pieces_total';
const CHECKPOINTS = 'storage_checkpoints_total';

function batch(fields: Partial<PersistBatch>): PersistBatch {
  return { snapshot: null, truncateFrom: null, entries: [], compactBefore: null, hardState: null, ...fields };
}

/** Writes entries 1..200 (term 1), a snapshot at 150 and a compaction of everything it covers. */
/** Opens the folder of `options` and checks it holds the compacted log: snapshot at 150, entries 151..200. */
async function assertCompactedLog(options: WalPersistenceOptions): Promise<void> {
  const reopened = await WalPersistenceEngine.open(options);
  const state = await reopened.load();
  await reopened.close();
  assert.equal(state.snapshot?.lastIncludedIndex, 150);
  assert.deepEqual(
    state.entries.map((e) => e.index),
    entries(151, 200, 1).map((e) => e.index),
  );
}

async function writeAndCompact(engine: WalPersistenceEngine): Promise<void> {
  for (let from = 1; from <= 200; from += 20) await engine.persist(batch({ entries: entries(from, from + 19, 1) }));
  await engine.persist(batch({ snapshot: snapshot(150, 1) }));
  await engine.persist(batch({ compactBefore: 151 }));
}

describe('WAL checkpoint: compaction in pieces, log drained while a snapshot streams', function () {
  this.timeout(scaledMs(30_000));
  let dir: string;
  let copy: string;

  beforeEach(() => {
    dir = makeTempDir();
    copy = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
    removeDir(copy);
  });

  const options = (overrides: Partial<WalPersistenceOptions> = {}): WalPersistenceOptions =>
    walTestOptions(dir, {
      walCheckpointDeletesPerTxnMax: 16,
      // No checkpoint before close: the compaction record waits in the log.
      walCheckpointBytes: 64 * 1024 * 1024,
      walPendingBytesMax: 128 * 1024 * 1024,
      ...overrides,
    });

  it('deletes a compaction of 150 entries in pieces of at most 16, and the log loads compacted', async () => {
    const metrics = new HookedMetrics();
    const engine = await WalPersistenceEngine.open(options(), { metrics });
    await writeAndCompact(engine);
    await engine.close();
    // Entries 1..150 go: 9 pieces of 16 (1..144) ahead of the record, the last 6 in its own transaction.
    assert.equal(metrics.count(PIECES), 9);
    await assertCompactedLog(options());
  });

  it('reopens a crash copy taken between two pieces to the compacted log', async () => {
    const metrics = new HookedMetrics((name, count) => {
      // Synchronously after the third piece's transaction committed: LMDB has entries 1..48 deleted.
      if (name === PIECES && count === 3) crashCopy(dir, copy);
    });
    const engine = await WalPersistenceEngine.open(options(), { metrics });
    await writeAndCompact(engine);
    await engine.close();
    assert.ok(metrics.count(PIECES) >= 3, 'the compaction was deleted in pieces');
    await assertCompactedLog(walTestOptions(copy, { walCheckpointDeletesPerTxnMax: 16 }));
  });

  it('checkpoints each record while a snapshot writer is open, and the commit follows them', async () => {
    const metrics = new HookedMetrics();
    const engine = await WalPersistenceEngine.open(options(), { metrics });
    try {
      await engine.persist(batch({ entries: entries(1, 20, 1) }));
      assert.equal(metrics.count(CHECKPOINTS), 0, 'below walCheckpointBytes nothing is checkpointed');
      const writer = engine.beginSnapshot({ lastIncludedIndex: 10, lastIncludedTerm: 1, configuration: CONFIGURATION });
      await writer.write(new Uint8Array(1000).fill(7));
      await engine.persist(batch({ entries: entries(21, 30, 1) }));
      // The records wait in the log only until the checkpoint's next turn (looked at up to 400 times).
      for (let look = 0; look < 400 && metrics.count(CHECKPOINTS) === 0; look += 1)
        await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(metrics.count(CHECKPOINTS) > 0, 'the records were checkpointed while the writer is open');
      assert.equal(await writer.commit(), true);
      const state = await engine.load();
      assert.equal(state.snapshot?.lastIncludedIndex, 10);
      assert.equal(state.entries.at(-1)?.index, 30);
    } finally {
      await engine.close();
    }
  });
});
