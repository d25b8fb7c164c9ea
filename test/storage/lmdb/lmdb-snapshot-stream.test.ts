// Proves the streaming snapshot writer of the LMDB-based engines (storage/lmdb/lmdb-snapshot-stream.ts
// and lmdb-snapshot-slots.ts), on the LMDB engine and on the WAL engine: a writer's records reach
// the slot the stored snapshot does not use while the chunks come (counted in LMDB itself), the
// stored snapshot stays readable and whole meanwhile, the commit switches to the new image, and
// a crash (a child process killed after some records), an abort, a snapshot persisted meanwhile
// (the leader's InstallSnapshot) or a second writer leaves the stored one whole and the free slot
// empty. A log append issued when a large snapshot commits resolves before that commit does
// (the gathering writer wrote the whole image in the commit's place in the queue, ahead of it).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import type { Snapshot } from '../../../contracts/log.js';
import type { PersistenceEngine, SnapshotWriter } from '../../../contracts/persistence.js';
import type { LmdbHandles } from '../../../storage/lmdb/lmdb-open.js';
import type { SnapshotSlot } from '../../../storage/lmdb/lmdb-records.js';
import { SNAPSHOT_RECORD_BYTES, slotKeyRange } from '../../../storage/lmdb/lmdb-snapshot.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { EMPTY_BATCH } from '../../../storage/memory.js';
import {
  entries,
  entry,
  lmdbTestOptions,
  makeTempDir,
  removeDir,
  snapshot,
  walTestOptions,
  writeLentChunks,
} from '../helpers.js';
import { appendLogEntries, loadSnapshot, saveSnapshot } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

const CHILD = fileURLToPath(new URL('./stream-child.ts', import.meta.url));
const MIB = 1024 * 1024;
const LIMITS = { snapshotBytesMax: 40 * MIB, mapSizeMaxBytes: 256 * MIB };

/** The LMDB handles of an open engine of either kind (test-only access to count records). */
function handlesOf(engine: PersistenceEngine): LmdbHandles {
  const direct: unknown = Reflect.get(engine, 'handles');
  if (direct !== undefined) return direct as LmdbHandles;
  return (Reflect.get(engine, 'store') as { handles: LmdbHandles }).handles;
}

/** Records in slot `slot` of an open engine's store. */
function recordsIn(engine: PersistenceEngine, slot: SnapshotSlot): number {
  return handlesOf(engine).meta.getKeysCount(slotKeyRange(slot));
}

/** Records in slot `slot` of the closed store in `dir`, counted with lmdb itself. */
async function rawRecordsIn(dir: string, slot: SnapshotSlot): Promise<number> {
  const env = open<Uint8Array, string>({ path: dir, maxDbs: 4, overlappingSync: false, encoding: 'binary' });
  try {
    return env.openDB<Uint8Array, string>({ name: 'meta', encoding: 'binary' }).getKeysCount(slotKeyRange(slot));
  } finally {
    await env.close();
  }
}

/** Resolves once every slot transaction the engine began so far has ended. */
function laneIdle(engine: PersistenceEngine): Promise<void> {
  return (Reflect.get(engine, 'slots') as { idle(): Promise<void> }).idle();
}

/** Writes `image` through `writer` in lent chunks of `chunkBytes` (one record by default). */
function writeAll(writer: SnapshotWriter, image: Snapshot, chunkBytes = SNAPSHOT_RECORD_BYTES): Promise<void> {
  return writeLentChunks(writer, image.data, chunkBytes);
}

/** Runs stream-child.ts until it has written `records` records, then kills it with SIGKILL. */
function crashChildMidway(dir: string, kind: 'lmdb' | 'wal', records: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, kind, String(records)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => (stderr += text));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      if (text.includes('WRITTEN')) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited with ${String(code)}: ${stderr}`));
    });
  });
}

for (const kind of ['lmdb', 'wal'] as const) {
  describe(`streaming snapshot writer: ${kind}`, function () {
    this.timeout(scaledMs(60_000));
    let dir: string;
    let engine: PersistenceEngine;
    const openEngine = (): Promise<PersistenceEngine> =>
      kind === 'lmdb'
        ? LmdbPersistenceEngine.open(lmdbTestOptions(dir, LIMITS))
        : WalPersistenceEngine.open(walTestOptions(dir, LIMITS));
    const stored = snapshot(10, 2, 3 * SNAPSHOT_RECORD_BYTES + 5);

    beforeEach(async () => {
      dir = makeTempDir();
      engine = await openEngine();
      await appendLogEntries(engine, entries(1, 12, 2));
      await saveSnapshot(engine, stored);
      assert.equal(recordsIn(engine, 0), 4, 'the first snapshot is in slot 0');
    });

    afterEach(async () => {
      await engine.close();
      removeDir(dir);
    });

    it('writes the records into the free slot as the chunks come; the commit switches to them', async () => {
      const image = snapshot(12, 2, 12 * SNAPSHOT_RECORD_BYTES + 100);
      const writer = engine.beginSnapshot(image, image.data.byteLength);
      await writeAll(writer, image);
      assert.ok(recordsIn(engine, 1) >= 4, 'records are in slot 1 before the commit');
      assert.deepStrictEqual(await engine.readSnapshotChunk(10, 1000, 300_000), stored.data.slice(1000, 301_000));
      assert.equal(await writer.commit(), true);
      assert.equal(recordsIn(engine, 0), 0, 'the old slot is emptied by the switch');
      assert.equal(recordsIn(engine, 1), 13);
      assert.equal(await engine.readSnapshotChunk(10, 0, 10), null);
      assert.deepStrictEqual(
        await engine.readSnapshotChunk(12, 2 * MIB, 300_000),
        image.data.slice(2 * MIB, 2 * MIB + 300_000),
      );
      assert.deepStrictEqual(await loadSnapshot(engine), image);
      await engine.close();
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), image);
    });

    it('stores an image of many transactions whole from lent chunks, its records filled again', async () => {
      // 40 records in 10 transactions: records of the first transactions are filled again for the
      // last ones; one filled before its transaction ended would store the wrong bytes.
      const image = snapshot(12, 2, 40 * SNAPSHOT_RECORD_BYTES + 9);
      const writer = engine.beginSnapshot(image);
      await writeAll(writer, image, 100_003);
      assert.equal(await writer.commit(), true);
      assert.equal(recordsIn(engine, 1), 41);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
      await engine.close();
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), image);
    });

    it('keeps the stored snapshot after a crash midway, and empties the half-written slot at open', async () => {
      await engine.close();
      await crashChildMidway(dir, kind, 9);
      assert.equal(await rawRecordsIn(dir, 1), 8, 'the child wrote two transactions of records into slot 1');
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), stored);
      assert.equal(recordsIn(engine, 1), 0, 'what the crash left in slot 1 is deleted at open');
      const image = snapshot(12, 2, 2 * SNAPSHOT_RECORD_BYTES);
      const writer = engine.beginSnapshot(image);
      await writeAll(writer, image);
      assert.equal(await writer.commit(), true);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
    });

    it('drops the records of an aborted writer and keeps the stored snapshot', async () => {
      const writer = engine.beginSnapshot(snapshot(12, 2));
      await writeAll(writer, snapshot(12, 2, 9 * SNAPSHOT_RECORD_BYTES));
      await laneIdle(engine);
      // Written in transactions of four records: the ninth waits for more, or for the commit.
      assert.equal(recordsIn(engine, 1), 8, 'the records were written before the abort');
      await writer.abort();
      assert.equal(await writer.commit(), false);
      await laneIdle(engine);
      assert.equal(recordsIn(engine, 1), 0, 'the abort deleted them');
      assert.deepStrictEqual(await loadSnapshot(engine), stored);
    });

    it('resolves the commit false when the leader’s snapshot is persisted meanwhile, stored whole', async () => {
      const writer = engine.beginSnapshot(snapshot(12, 2));
      await writeAll(writer, snapshot(12, 2, 12 * SNAPSHOT_RECORD_BYTES));
      // Persisted while the writer's last transactions are under way, into the slot it was writing.
      const leader = snapshot(50, 3, 6 * SNAPSHOT_RECORD_BYTES + 7);
      const persisted = engine.persist({ ...EMPTY_BATCH, snapshot: leader });
      assert.equal(await writer.commit(), false);
      await persisted;
      await laneIdle(engine);
      assert.equal(recordsIn(engine, 1), 7, "the leader's records, none of the writer's");
      assert.equal(recordsIn(engine, 0), 0);
      assert.deepStrictEqual(await engine.readSnapshotChunk(50, 0, leader.data.byteLength), leader.data);
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
      await engine.close();
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
    });

    it('resolves false when the leader’s snapshot is persisted while the commit waits for its records', async () => {
      const writer = engine.beginSnapshot(snapshot(12, 2));
      await writeAll(writer, snapshot(12, 2, 10 * SNAPSHOT_RECORD_BYTES + 3));
      const committed = writer.commit();
      const leader = snapshot(50, 3, 2 * SNAPSHOT_RECORD_BYTES);
      await engine.persist({ ...EMPTY_BATCH, snapshot: leader });
      assert.equal(await committed, false);
      await laneIdle(engine);
      assert.equal(recordsIn(engine, 1), 2, "the leader's records, none of the writer's");
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
      await engine.close();
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
    });

    it('aborts a writer when a second begins; the second commits its own image', async () => {
      const first = engine.beginSnapshot(snapshot(11, 2));
      await writeAll(first, snapshot(11, 2, 8 * SNAPSHOT_RECORD_BYTES));
      const image = snapshot(12, 2, 5 * SNAPSHOT_RECORD_BYTES + 1);
      const second = engine.beginSnapshot(image);
      await writeAll(second, image);
      assert.equal(await first.commit(), false);
      assert.equal(await second.commit(), true);
      await laneIdle(engine);
      assert.equal(recordsIn(engine, 1), 6);
      assert.equal(recordsIn(engine, 0), 0);
      await engine.close();
      engine = await openEngine();
      assert.deepStrictEqual(await loadSnapshot(engine), image);
    });

    it('does not hold a log append issued as a large snapshot commits until the image is written', async () => {
      const image = snapshot(12, 2, 24 * MIB);
      const writer = engine.beginSnapshot(image, image.data.byteLength);
      await writeAll(writer, image);
      const order: string[] = [];
      const started = performance.now();
      const committed = writer.commit().then((ok) => order.push(`commit ${String(ok)}`));
      const appended = engine.persist({ ...EMPTY_BATCH, entries: [entry(13, 2)] }).then(() => {
        order.push('append');
        console.log(`      ${kind}: append waited ${(performance.now() - started).toFixed(1)} ms`);
      });
      await Promise.all([committed, appended]);
      assert.deepStrictEqual(order, ['append', 'commit true']);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
    });
  });
}
