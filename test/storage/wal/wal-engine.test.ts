// Proves the write-ahead-log engine meets the PersistenceEngine contract (the shared suite of
// persistence-contract.ts, reopen = close and open the same directory) twice: with checkpoints
// every 2 KiB by the checkpoint worker (walCheckpointWorker) and 1 MiB segments (reads cross
// LMDB and the in-memory tail, segments rotate and are deleted), and with checkpoints only at
// open and close on the main thread (every read comes from the tail).
// Then its own promises: options checked by name; concurrent writes share frames and are
// checkpointed; old segments are deleted; a batch too large for a frame goes to LMDB directly
// in order; an LMDB engine directory is upgraded and the LMDB engine then refuses it; and
// writes LMDB could not hold are refused (STORAGE_FULL) without losing acknowledged ones; a write
// on an idle log starts before persist returns, and one with PersistOptions.overlap is synced on
// the thread pool, never inline; a write resolves before the checkpoint it sets off starts.
import { strict as assert } from 'node:assert';
import { pbkdf2 } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigError } from '../../../contracts/errors.js';
import type { Metrics } from '../../../contracts/metrics.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { SNAPSHOT_RECORD_BYTES, snapshotRecordKey } from '../../../storage/lmdb/lmdb-snapshot.js';
import { Checkpointer } from '../../../storage/wal/wal-checkpoint.js';
import type { OpenedStore } from '../../../storage/wal/wal-checkpoint.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import {
  entries,
  entry,
  lmdbTestOptions,
  makeTempDir,
  readInPlace,
  removeDir,
  snapshot,
  walHarness,
  walTestOptions,
  writeLentChunks,
} from '../helpers.js';
import { persistenceContract } from '../persistence-contract.js';
import { appendLogEntries, appendLogEntry, getLogEntries, saveSnapshot, saveVotedFor } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

persistenceContract('wal, frequent checkpoints in the worker', walHarness({ walCheckpointWorker: true }));
persistenceContract(
  'wal, checkpoint at close only, main thread',
  walHarness({ walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 }),
);

/** Counts commits, the writes they carried and checkpoints. */
class CountingMetrics implements Metrics {
  commits = 0;
  writes = 0;
  checkpoints = 0;
  increment(name: string): void {
    if (name === 'storage_commits_total') this.commits += 1;
    if (name === 'storage_checkpoints_total') this.checkpoints += 1;
  }
  observe(name: string, value: number): void {
    if (name === 'storage_commit_writes') this.writes += value;
  }
  setGauge(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

function logSegments(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^wal-[0-9a-f]{16}\.log$/.test(name));
}

/** Whether the log's segments hold `bytes` somewhere. */
function logHolds(dir: string, bytes: Uint8Array): boolean {
  return logSegments(dir).some((name) => readFileSync(join(dir, name)).includes(Buffer.from(bytes)));
}

/**
 * Keeps every thread of libuv's pool busy for about `ms` (pbkdf2 runs there). Resolves once they
 * all are, with the promise of their end.
 */
async function occupyThreadPool(ms: number): Promise<{ readonly free: Promise<unknown> }> {
  const threads = Number(process.env['UV_THREADPOOL_SIZE'] ?? '4');
  const run = (iterations: number): Promise<void> =>
    new Promise((resolve, reject) => pbkdf2('p', 's', iterations, 16, 'sha256', (e) => (e ? reject(e) : resolve())));
  // Calibrate: the iterations one thread runs in about `ms`.
  const probe = 2000;
  const started = performance.now();
  await run(probe);
  const iterations = Math.ceil((ms * probe) / Math.max(0.01, performance.now() - started));
  return { free: Promise.all(Array.from({ length: threads }, () => run(iterations))) };
}

describe('WalPersistenceEngine', function () {
  this.timeout(scaledMs(30_000));
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('reports every bad option by name with its limit', async () => {
    await assert.rejects(
      WalPersistenceEngine.open({
        path: dir,
        walSegmentBytes: 1000,
        walCheckpointBytes: 4096,
        walPendingBytesMax: 4096,
        walSyncMode: 'sometimes' as 'auto',
      }),
      (error: ConfigError) => {
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.equal(error.problems.length, 4);
        assert.match(error.message, /walFrameBytesMax: expected an integer from 4096 to 500, got 4194304/);
        assert.match(error.message, /walSegmentBytes: expected an integer from 1048576 to 268435456, got 1000/);
        assert.match(error.message, /walPendingBytesMax: expected an integer from 8192/);
        assert.match(error.message, /walSyncMode/);
        return true;
      },
    );
  });

  it('starts a write on an idle log before persist returns (auto mode, a lone write: synced inline)', async () => {
    const engine = await WalPersistenceEngine.open(walTestOptions(dir, { walSyncMode: 'auto' }));
    try {
      const written = entry(1, 1, 'command', 64);
      const done = engine.persist({
        snapshot: null,
        truncateFrom: null,
        entries: [written],
        compactBefore: null,
        hardState: null,
      });
      // Nothing was awaited: the frame is on disk only if the write ran within persist.
      assert.ok(logHolds(dir, written.command), 'the frame is in the log when persist returns');
      await done;
    } finally {
      await engine.close();
    }
  });

  it('syncs an overlapped write (PersistOptions.overlap) on the thread pool, never inline', async () => {
    const engine = await WalPersistenceEngine.open(walTestOptions(dir, { walSyncMode: 'auto' }));
    try {
      // Every pool thread is busy for a while: a write queued there waits.
      const pool = await occupyThreadPool(scaledMs(300));
      const written = entry(1, 1, 'command', 64);
      const batch = { snapshot: null, truncateFrom: null, entries: [written], compactBefore: null, hardState: null };
      const done = engine.persist(batch, { overlap: true });
      // An inline write would have run by the next turn of the event loop; one on the pool waits.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(logHolds(dir, written.command), false, 'the event loop did not write it');
      await done;
      assert.ok(logHolds(dir, written.command), 'the frame is in the log once the write resolved');
      await pool.free;
    } finally {
      await engine.close();
    }
  });

  it('groups concurrent writes into shared frames and checkpoints them in the background', async () => {
    const metrics = new CountingMetrics();
    const engine = await WalPersistenceEngine.open(walTestOptions(dir), { metrics });
    try {
      await Promise.all(Array.from({ length: 400 }, (_, i) => appendLogEntry(engine, entry(i + 1, 1))));
      assert.equal(metrics.writes, 400);
      assert.ok(metrics.commits < 400, `${metrics.commits} commits for 400 writes`);
      // The checkpoint runs after the writes are acknowledged; wait for its first transaction.
      for (let polls = 0; metrics.checkpoints === 0 && polls < 10_000; polls += 1)
        await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(metrics.checkpoints > 0, 'no checkpoint ran');
      assert.deepStrictEqual(await getLogEntries(engine, 1, 400), entries(1, 400, 1));
    } finally {
      await engine.close();
    }
  });

  // Tail latency: the checkpoint a write sets off used to start in the continuation of that write's
  // append, so the encoding of its records and the start of its LMDB transaction ran before the
  // write's promise resolved, ahead of the answer the write was awaited for.
  it('acknowledges a write before the checkpoint it sets off starts, which runs in a later turn', async () => {
    const metrics = new CountingMetrics();
    const engine = await WalPersistenceEngine.open(walTestOptions(dir, { walCheckpointBytes: 1024 }), { metrics });
    try {
      const checkpointer: unknown = Reflect.get(engine, 'checkpointer');
      assert.ok(checkpointer instanceof Checkpointer);
      let runningAtAck: unknown = 'not acknowledged';
      await appendLogEntries(engine, entries(1, 64, 1)).then(() => {
        runningAtAck = Reflect.get(checkpointer, 'running');
      });
      assert.ok(checkpointer.pendingBytes() >= 1024, `${checkpointer.pendingBytes()} bytes pending`);
      assert.equal(runningAtAck, null, 'a checkpoint was under way when the write that set it off resolved');
      for (let polls = 0; metrics.checkpoints === 0 && polls < 10_000; polls += 1)
        await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(metrics.checkpoints > 0, 'the checkpoint never ran');
      assert.deepStrictEqual(await getLogEntries(engine, 1, 64), entries(1, 64, 1));
    } finally {
      await engine.close();
    }
  });

  // Disk: a checkpoint that ran until no record waited chased the head of the log under a steady trickle
  // of writes (one client): every record synced during a transaction got a transaction of its own, two
  // LMDB syncs each beside the log's (traced: about 100 in 0.6 s on a leader after each checkpoint).
  it('takes a transaction past the first only while a full one waits, and drains whole at close', async () => {
    const fullBytes = 16 * 1024;
    const options = walTestOptions(dir, {
      walCheckpointBytes: fullBytes,
      walCheckpointTxnBytesMax: fullBytes,
      walPendingBytesMax: 8 * fullBytes,
    });
    const engine = await WalPersistenceEngine.open(options);
    const carried: number[] = [];
    let closed = false;
    try {
      const checkpointer: unknown = Reflect.get(engine, 'checkpointer');
      assert.ok(checkpointer instanceof Checkpointer);
      const dropThrough: unknown = Reflect.get(checkpointer, 'dropThrough');
      assert.ok(typeof dropThrough === 'function');
      Reflect.set(checkpointer, 'dropThrough', (end: number, bytes: number, lastSeq: number): void => {
        carried.push(bytes);
        Reflect.apply(dropThrough, checkpointer, [end, bytes, lastSeq]);
      });
      // One write at a time, as from a single client: each 1 KiB entry is synced while checkpoints run.
      for (let index = 1; index <= 400; index += 1) await appendLogEntry(engine, entry(index, 1, 'command', 1024));
      const busy = (): boolean =>
        Reflect.get(checkpointer, 'running') !== null || Reflect.get(checkpointer, 'startLater') !== null;
      for (let polls = 0; busy() && polls < 10_000; polls += 1) await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(carried.length >= 10, `${carried.length} checkpoint transactions for 400 KiB of records`);
      // A full transaction stops short of fullBytes by less than one record (about 1 KiB here).
      const small = carried.filter((bytes) => bytes < fullBytes / 2);
      assert.deepStrictEqual(small, [], 'transactions carried a record or two while writes went on');
      const left = checkpointer.pendingBytes();
      assert.ok(left < fullBytes + 2048, `${left} bytes left waiting`);
      closed = true;
      await engine.close();
      assert.equal(checkpointer.pendingBytes(), 0, 'close checkpoints what is left');
      // The end of a run under way at close may ask for another: none starts on the closed store.
      Reflect.apply(Reflect.get(checkpointer, 'startInLaterTurn') as () => void, checkpointer, []);
      assert.equal(Reflect.get(checkpointer, 'startLater'), null, 'a checkpoint was scheduled after close');
    } finally {
      if (!closed) await engine.close();
    }
    const reopened = await WalPersistenceEngine.open(options);
    try {
      const read = await getLogEntries(reopened, 1, 400);
      assert.equal(read.length, 400);
      assert.deepStrictEqual(read[399], entry(400, 1, 'command', 1024));
    } finally {
      await reopened.close();
    }
  });

  // Memory: a pending record is applied from its write plan on the main thread; its encoded bytes,
  // kept too, held every pending entry twice (up to walPendingBytesMax twice over).
  for (const worker of [false, true])
    it(`holds pending records' bytes only for a checkpoint worker (worker ${worker ? 'on' : 'off'})`, async () => {
      const options = walTestOptions(dir, {
        walCheckpointBytes: 512 * 1024 * 1024,
        walPendingBytesMax: 1024 * 1024 * 1024,
        walCheckpointWorker: worker,
      });
      const engine = await WalPersistenceEngine.open(options);
      try {
        await appendLogEntries(engine, entries(1, 200, 1));
        const checkpointer: unknown = Reflect.get(engine, 'checkpointer');
        assert.ok(checkpointer instanceof Checkpointer);
        assert.ok(checkpointer.pendingBytes() > 200 * 16, `${checkpointer.pendingBytes()} bytes pending`);
        assert.equal(checkpointer.heldRecordBytes() > 0, worker);
        assert.deepStrictEqual(await getLogEntries(engine, 1, 200), entries(1, 200, 1));
      } finally {
        await engine.close();
      }
      const reopened = await WalPersistenceEngine.open(options);
      try {
        assert.deepStrictEqual((await reopened.load()).entries, entries(1, 200, 1));
      } finally {
        await reopened.close();
      }
    });

  it('deletes the segments a checkpoint no longer needs', async () => {
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    try {
      // About 5 MiB of records through 1 MiB segments.
      for (let index = 1; index <= 5000; index += 40) {
        await appendLogEntries(
          engine,
          entries(index, index + 39, 1).map((e) => ({ ...e, command: new Uint8Array(1000).fill(index & 0xff) })),
        );
        assert.ok(logSegments(dir).length <= 3, `${logSegments(dir).length} segments after entry ${index}`);
      }
      assert.equal((await engine.load()).entries.length, 5000);
    } finally {
      await engine.close();
    }
  });

  it('writes a batch larger than walFrameBytesMax to LMDB directly, in order with the log', async () => {
    let engine = await WalPersistenceEngine.open(walTestOptions(dir));
    const big = entries(3, 200, 1).map((e) => ({ ...e, command: new Uint8Array(1000).fill(e.index & 0xff) }));
    try {
      const writes = [
        appendLogEntries(engine, entries(1, 2, 1)),
        appendLogEntries(engine, big),
        appendLogEntry(engine, entry(201, 2)),
      ];
      await Promise.all(writes);
      assert.deepStrictEqual(await getLogEntries(engine, 1, 201), [...entries(1, 2, 1), ...big, entry(201, 2)]);
      await engine.close();
      engine = await WalPersistenceEngine.open(walTestOptions(dir));
      assert.deepStrictEqual((await engine.load()).entries, [...entries(1, 2, 1), ...big, entry(201, 2)]);
    } finally {
      await engine.close();
    }
  });

  it('serves only entries still stored while a snapshot commit settles (a leader read one it deleted)', async () => {
    // The window: LMDB's commit of a snapshot is visible to reads before the durable projection
    // follows it (Checkpointer.addApplied). Whatever firstStoredIndex says there must be readable.
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    const checkpointer = (engine as unknown as { readonly checkpointer: Checkpointer }).checkpointer;
    const addApplied = checkpointer.addApplied.bind(checkpointer);
    const seen: string[] = [];
    checkpointer.addApplied = (batch) => {
      const first = engine.firstStoredIndex();
      seen.push(first === null ? 'none' : `${first}..${engine.readEntries(first, 12).length + first - 1}`);
      addApplied(batch);
    };
    try {
      await appendLogEntries(engine, entries(1, 12, 1));
      const commit = async (index: number): Promise<boolean> => {
        const writer = engine.beginSnapshot(snapshot(index, 1));
        await writeLentChunks(writer, snapshot(index, 1).data, 300);
        return writer.commit();
      };
      // Below the last stored entry, the snapshot leaves the log as it is; at it, it deletes the log.
      assert.equal(await commit(8), true);
      assert.equal(await commit(12), true);
      assert.deepEqual(seen, ['1..12', 'none']);
      assert.equal(engine.firstStoredIndex(), null);
      await appendLogEntries(engine, entries(13, 14, 1));
      assert.equal(engine.firstStoredIndex(), 13);
    } finally {
      await engine.close();
    }
  });

  it('opens a directory of the LMDB engine, which then refuses it (format 2)', async () => {
    const old = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    await appendLogEntries(old, entries(1, 5, 1));
    await saveVotedFor(old, 'n3');
    await old.close();
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    try {
      await appendLogEntry(engine, entry(6, 1));
      assert.deepStrictEqual(await engine.load(), {
        hardState: { currentTerm: 0, votedFor: 'n3' },
        snapshot: null,
        entries: entries(1, 6, 1),
      });
    } finally {
      await engine.close();
    }
    await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(dir)), {
      code: 'STORAGE_VERSION',
      message: /format version 3; this build reads up to 1/,
    });
  });

  it('reads in place the image open checked unchecked until a write; checks it after', async () => {
    let engine = await WalPersistenceEngine.open(walTestOptions(dir));
    await appendLogEntries(engine, entries(1, 10, 2));
    const image = snapshot(4, 2, 2 * SNAPSHOT_RECORD_BYTES + 10);
    await saveSnapshot(engine, image);
    await engine.close();
    const stray = new Uint8Array(10).fill(9);
    for (const writeFirst of [false, true]) {
      engine = await WalPersistenceEngine.open(walTestOptions(dir));
      try {
        // Damage the engine cannot see coming, written around it into its LMDB environment (shared in-process).
        const { env, meta } = (Reflect.get(engine, 'store') as OpenedStore).handles;
        await env.transaction(() => meta.putSync(snapshotRecordKey(2), stray));
        const hardState = { currentTerm: 2, votedFor: null };
        if (writeFirst)
          await engine.persist({ snapshot: null, truncateFrom: null, entries: [], compactBefore: null, hardState });
        const damaged = { code: 'STORAGE_CORRUPT', message: /snapshot 4 image fails its checksum/ };
        assert.equal((await engine.loadShape()).snapshot?.dataBytes, image.data.byteLength);
        const tail = (): Uint8Array => readInPlace(engine, 4, 2 * SNAPSHOT_RECORD_BYTES, 10);
        if (writeFirst)
          assert.throws(tail, { code: 'STORAGE_CORRUPT', message: /snapshot 4 image record 2 fails its/ });
        else assert.ok(Buffer.from(stray).equals(tail()));
        await assert.rejects(engine.load(), damaged);
        await env.transaction(() => meta.putSync(snapshotRecordKey(2), image.data.subarray(-10)));
      } finally {
        await engine.close();
      }
    }
  });

  it('refuses writes LMDB could not hold with STORAGE_FULL, keeping every acknowledged one', async () => {
    const options = walTestOptions(dir, {
      mapSizeInitialBytes: 256 * 1024,
      mapSizeMaxBytes: 1024 * 1024,
      snapshotBytesMax: 0,
    });
    const engine = await WalPersistenceEngine.open(options);
    let acked = 0;
    let refusal: unknown = null;
    try {
      for (let index = 1; index <= 1000 && refusal === null; index += 1) {
        try {
          await appendLogEntry(engine, entry(index, 1, 'command', 4096));
          acked = index;
        } catch (error) {
          refusal = error;
        }
      }
    } finally {
      await engine.close();
    }
    assert.equal((refusal as { code?: string } | null)?.code, 'STORAGE_FULL');
    assert.ok(acked > 10, `only ${acked} entries fit`);
    const reopened = await WalPersistenceEngine.open(options);
    try {
      const state = await reopened.load();
      assert.equal(state.entries.length, acked);
      assert.deepStrictEqual(state.entries[acked - 1], entry(acked, 1, 'command', 4096));
    } finally {
      await reopened.close();
    }
  });
});
