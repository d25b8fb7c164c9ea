// The PersistenceEngine contract as one suite, run against every engine (memory.test.ts,
// lmdb/lmdb-engine.test.ts, wal/wal-engine.test.ts): each test writes through persist() or the
// reference's per-field methods rebuilt over it (reference-fields.ts) and checks what load(),
// the per-field reads over it and a reopened engine return. Refusals are checked to leave state
// unchanged.
import { strict as assert } from 'node:assert';
import type { Snapshot } from '../../contracts/log.js';
import type { PersistBatch, PersistenceEngine } from '../../contracts/persistence.js';
import { EMPTY_BATCH } from '../../storage/memory.js';
import { entries, entry, snapshot, writeLentChunks } from './helpers.js';
import type { EngineHarness, HarnessFactory } from './helpers.js';
import {
  appendLogEntries,
  appendLogEntry,
  deleteLogEntriesBefore,
  getFirstLogIndex,
  getLastLogIndex,
  getLogEntries,
  getLogEntry,
  loadCurrentTerm,
  loadSnapshot,
  loadVotedFor,
  saveCurrentTerm,
  saveSnapshot,
  saveVotedFor,
  truncateLog,
} from './reference-fields.js';

/** Registers the contract suite for the engines `factory` makes. */
export function persistenceContract(name: string, factory: HarnessFactory): void {
  describe(`PersistenceEngine contract: ${name}`, () => {
    let harness: EngineHarness;
    let engine: PersistenceEngine;

    beforeEach(async () => {
      harness = factory();
      engine = await harness.open();
    });

    afterEach(async () => {
      await engine.close();
      await harness.cleanup();
    });

    async function logShape(): Promise<[number, number]> {
      return [await getFirstLogIndex(engine), await getLastLogIndex(engine)];
    }

    it('starts empty: term 0, no vote, no log, no snapshot', async () => {
      assert.equal(await loadCurrentTerm(engine), 0);
      assert.equal(await loadVotedFor(engine), null);
      assert.deepEqual(await logShape(), [1, 0]);
      assert.equal(await loadSnapshot(engine), null);
      assert.equal(await getLogEntry(engine, 1), null);
      assert.deepStrictEqual(await engine.load(), {
        hardState: { currentTerm: 0, votedFor: null },
        snapshot: null,
        entries: [],
      });
    });

    it('keeps term and vote, each save leaving the other alone, across a reopen', async () => {
      await saveCurrentTerm(engine, 7);
      await saveVotedFor(engine, 'n2');
      await saveCurrentTerm(engine, 8);
      assert.equal(await loadVotedFor(engine), 'n2');
      engine = await harness.reopen(engine);
      assert.equal(await loadCurrentTerm(engine), 8);
      assert.equal(await loadVotedFor(engine), 'n2');
      await saveVotedFor(engine, null);
      assert.equal(await loadVotedFor(engine), null);
    });

    it('appends, reads single entries and ranges, and returns commands as equal Uint8Arrays', async () => {
      await appendLogEntry(engine, entry(1, 1));
      await appendLogEntries(engine, [entry(2, 1, 'noop', 0), entry(3, 2, 'config', 300), entry(4, 2)]);
      assert.deepStrictEqual(await getLogEntry(engine, 3), entry(3, 2, 'config', 300));
      assert.deepStrictEqual(await getLogEntry(engine, 2), entry(2, 1, 'noop', 0));
      assert.equal(await getLogEntry(engine, 5), null);
      assert.equal(await getLogEntry(engine, 0), null);
      assert.deepStrictEqual(await getLogEntries(engine, 2, 3), [entry(2, 1, 'noop', 0), entry(3, 2, 'config', 300)]);
      assert.deepStrictEqual(await getLogEntries(engine, 0, 100), [
        entry(1, 1),
        entry(2, 1, 'noop', 0),
        entry(3, 2, 'config', 300),
        entry(4, 2),
      ]);
      assert.deepStrictEqual(await getLogEntries(engine, 3, 2), []);
      assert.deepStrictEqual(await getLogEntries(engine, 9, 12), []);
      assert.deepEqual(await logShape(), [1, 4]);
    });

    it('refuses a gap or a falling term and keeps the log as it was', async () => {
      await appendLogEntries(engine, entries(1, 3, 2));
      await assert.rejects(appendLogEntry(engine, entry(5, 2)), { code: 'RAFT_INVARIANT' });
      await assert.rejects(appendLogEntry(engine, entry(4, 1)), { code: 'RAFT_INVARIANT' });
      await assert.rejects(appendLogEntry(engine, entry(3, 2)), { code: 'RAFT_INVARIANT' });
      assert.deepEqual(await logShape(), [1, 3]);
      await appendLogEntry(engine, entry(4, 3));
      assert.deepEqual(await logShape(), [1, 4]);
    });

    it('truncates the tail and accepts a new tail of a later term', async () => {
      await appendLogEntries(engine, entries(1, 6, 1));
      await truncateLog(engine, 4);
      assert.deepEqual(await logShape(), [1, 3]);
      assert.equal(await getLogEntry(engine, 4), null);
      await appendLogEntries(engine, entries(4, 5, 2));
      assert.deepStrictEqual(await getLogEntries(engine, 3, 5), [entry(3, 1), ...entries(4, 5, 2)]);
      await truncateLog(engine, 1);
      assert.deepEqual(await logShape(), [1, 0]);
      await truncateLog(engine, 10);
      assert.deepEqual(await logShape(), [1, 0]);
    });

    it('stores a snapshot of more than 1 MiB and keeps entries past it', async () => {
      await appendLogEntries(engine, entries(1, 10, 1));
      const image = snapshot(5, 1, 1024 * 1024 + 17);
      await saveSnapshot(engine, image);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
      assert.deepEqual(await logShape(), [1, 10]);
      await deleteLogEntriesBefore(engine, 6);
      assert.deepEqual(await logShape(), [6, 10]);
      assert.equal(await getLogEntry(engine, 5), null);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await engine.load(), {
        hardState: { currentTerm: 0, votedFor: null },
        snapshot: image,
        entries: entries(6, 10, 1),
      });
    });

    it('drops the log when a snapshot covers it, and the last index then comes from the snapshot', async () => {
      await appendLogEntries(engine, entries(1, 4, 1));
      await saveSnapshot(engine, snapshot(9, 3));
      assert.deepEqual(await logShape(), [10, 9]);
      await assert.rejects(appendLogEntry(engine, entry(11, 3)), { code: 'RAFT_INVARIANT' });
      await assert.rejects(appendLogEntry(engine, entry(10, 2)), { code: 'RAFT_INVARIANT' });
      await appendLogEntry(engine, entry(10, 3));
      assert.deepEqual(await logShape(), [10, 10]);
      await deleteLogEntriesBefore(engine, 20);
      assert.deepEqual(await logShape(), [10, 9]);
    });

    it('replaces a snapshot with a newer one whole', async () => {
      await saveSnapshot(engine, snapshot(3, 1, 2000));
      const newer = snapshot(8, 2, 1500);
      await saveSnapshot(engine, newer);
      assert.deepStrictEqual(await loadSnapshot(engine), newer);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await loadSnapshot(engine), newer);
    });

    it('reads the stored snapshot back in chunks, of that snapshot only, across a reopen', async () => {
      // 300 KiB and 17 bytes: several storage records (lmdb-snapshot.ts), the last one short.
      const image = snapshot(5, 1, 300 * 1024 + 17);
      await saveSnapshot(engine, image);
      const readAll = async (chunkBytes: number): Promise<Uint8Array> => {
        const parts: Uint8Array[] = [];
        for (let offset = 0; offset < image.data.byteLength; offset += chunkBytes) {
          const bytes = Math.min(chunkBytes, image.data.byteLength - offset);
          const chunk = await engine.readSnapshotChunk(5, offset, bytes);
          assert.ok(chunk !== null, `chunk at ${offset}`);
          assert.equal(chunk.byteLength, bytes);
          parts.push(chunk);
        }
        return Buffer.concat(parts);
      };
      // Chunks that cross record boundaries, and one chunk of the whole image.
      assert.ok(Buffer.from(image.data).equals(await readAll(16_000)));
      assert.ok(Buffer.from(image.data).equals(await readAll(image.data.byteLength)));
      assert.deepStrictEqual(await engine.readSnapshotChunk(5, 70_000, 0), new Uint8Array(0));
      // Another index: the stored snapshot is not the one asked for.
      assert.equal(await engine.readSnapshotChunk(4, 0, 10), null);
      await assert.rejects(engine.readSnapshotChunk(5, image.data.byteLength - 3, 4), { code: 'RAFT_INVARIANT' });
      engine = await harness.reopen(engine);
      assert.ok(Buffer.from(image.data).equals(await readAll(65_536)));
      // A newer, smaller snapshot replaces it whole: the old one is gone, the new one reads back.
      const newer = snapshot(9, 2, 1000);
      await saveSnapshot(engine, newer);
      assert.equal(await engine.readSnapshotChunk(5, 0, 10), null);
      assert.deepStrictEqual(await engine.readSnapshotChunk(9, 0, 1000), newer.data);
      assert.deepStrictEqual(await loadSnapshot(engine), newer);
      await engine.close();
      await assert.rejects(engine.readSnapshotChunk(9, 0, 10), { code: 'STORAGE_CLOSED' });
      engine = await harness.open();
    });

    /** Writes `image` through a snapshot writer in lent chunks of `chunkBytes`; resolves with what commit says. */
    async function streamSnapshot(image: Snapshot, chunkBytes: number, totalBytes?: number): Promise<boolean> {
      const writer = engine.beginSnapshot(image, totalBytes);
      await writeLentChunks(writer, image.data, chunkBytes);
      return writer.commit();
    }

    it('stores a snapshot written in chunks as persist stores it whole, across a reopen', async () => {
      await appendLogEntries(engine, entries(1, 12, 1));
      const image = snapshot(10, 1, 300 * 1024 + 17);
      assert.equal(await streamSnapshot(image, 70_001), true);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
      assert.deepStrictEqual(await engine.readSnapshotChunk(10, 262_000, 1000), image.data.slice(262_000, 263_000));
      assert.deepEqual(await logShape(), [1, 12], 'the entries after the snapshot stay');
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await loadSnapshot(engine), image);
      // With its size announced, the same; a size that does not match is refused and stores nothing.
      const sized = snapshot(11, 1, 100_000);
      assert.equal(await streamSnapshot(sized, 30_000, sized.data.byteLength), true);
      assert.deepStrictEqual(await loadSnapshot(engine), sized);
      await assert.rejects(streamSnapshot(snapshot(12, 1, 1000), 300, 1001), { code: 'RAFT_INVARIANT' });
      await assert.rejects(streamSnapshot(snapshot(12, 1, 1000), 300, 999), { code: 'RAFT_INVARIANT' });
      assert.deepStrictEqual(await loadSnapshot(engine), sized);
    });

    it('keeps the stored snapshot when a snapshot being written is aborted, or the engine closes midway', async () => {
      const stored = snapshot(5, 1, 2000);
      await saveSnapshot(engine, stored);
      const aborted = engine.beginSnapshot(snapshot(9, 1));
      await aborted.write(new Uint8Array(600));
      await aborted.abort();
      assert.equal(await aborted.commit(), false, 'an aborted writer commits nothing');
      assert.deepStrictEqual(await loadSnapshot(engine), stored);
      const torn = engine.beginSnapshot(snapshot(9, 1));
      await torn.write(new Uint8Array(300 * 1024));
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await loadSnapshot(engine), stored);
      assert.equal(await streamSnapshot(snapshot(9, 1, 5000), 4096), true, 'the next snapshot is written whole');
      assert.deepStrictEqual(await loadSnapshot(engine), snapshot(9, 1, 5000));
    });

    it('never commits a snapshot older than one persisted or stored meanwhile', async () => {
      const writer = engine.beginSnapshot(snapshot(5, 1));
      await writer.write(snapshot(5, 1).data);
      // A snapshot from the leader is persisted while this one is written: it supersedes it.
      const leader = snapshot(20, 2, 700);
      await saveSnapshot(engine, leader);
      assert.equal(await writer.commit(), false);
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
      // Begun after the newer one was stored, and older: refused at the commit.
      assert.equal(await streamSnapshot(snapshot(12, 2), 512), false);
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await loadSnapshot(engine), leader);
    });

    it('commits a streamed snapshot in one batch with the rest of a follower Ready, or none of it', async () => {
      await appendLogEntries(engine, entries(1, 12, 1));
      // What a follower writes when the leader's snapshot at 10 (term 2) replaces a log whose entry 10 is of term 1.
      const image = snapshot(10, 2, 300 * 1024 + 17);
      const writer = engine.beginSnapshot(image, image.data.byteLength);
      await writeLentChunks(writer, image.data, 70_001);
      const rest = {
        truncateFrom: 11,
        entries: entries(11, 12, 2),
        compactBefore: 11,
        hardState: { currentTerm: 2, votedFor: null },
      };
      assert.equal(await writer.commit(rest), true);
      const expected = { hardState: { currentTerm: 2, votedFor: null }, snapshot: image, entries: entries(11, 12, 2) };
      assert.deepStrictEqual(await engine.load(), expected);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await engine.load(), expected);
      // Superseded (another writer began): neither the image nor the rest is stored.
      const superseded = engine.beginSnapshot(snapshot(20, 3, 1000));
      await superseded.write(snapshot(20, 3, 1000).data);
      engine.beginSnapshot(snapshot(21, 3, 10));
      assert.equal(
        await superseded.commit({
          ...rest,
          truncateFrom: 13,
          entries: [],
          hardState: { currentTerm: 3, votedFor: 'n2' },
        }),
        false,
      );
      assert.deepStrictEqual(await engine.load(), expected);
    });

    it('reads the stored image in place, a range at a time, of that snapshot only (storedImage)', async () => {
      assert.equal(engine.storedImage(1), null);
      const image = snapshot(5, 1, 300 * 1024 + 17);
      await saveSnapshot(engine, image);
      const stored = engine.storedImage(5);
      assert.ok(stored !== null);
      assert.equal(stored.byteLength, image.data.byteLength);
      // Ranges that cross storage records (lmdb-snapshot.ts), and the whole image at once.
      const read = new Uint8Array(image.data.byteLength);
      for (let offset = 0; offset < read.byteLength; offset += 70_001) {
        const target = new Uint8Array(Math.min(70_001, read.byteLength - offset));
        stored.copyTo(offset, target);
        read.set(target, offset);
      }
      assert.deepStrictEqual(read, image.data);
      const whole = new Uint8Array(image.data.byteLength);
      stored.copyTo(0, whole);
      assert.deepStrictEqual(whole, image.data);
      assert.throws(() => stored.copyTo(image.data.byteLength - 3, new Uint8Array(4)), { code: 'RAFT_INVARIANT' });
      assert.equal(engine.storedImage(4), null);
      await engine.close();
      assert.throws(() => engine.storedImage(5), { code: 'STORAGE_CLOSED' });
      engine = await harness.open();
    });

    it('has no snapshot to read back before one is stored', async () => {
      assert.equal(await engine.readSnapshotChunk(1, 0, 0), null);
    });

    it('keeps the witnesses of a snapshot configuration across a reopen', async () => {
      const base = snapshot(5, 1, 64);
      const witnessed = {
        ...base,
        configuration: {
          voters: ['a', 'b', 'w'],
          learners: [],
          oldVoters: null,
          members: [
            { id: 'a', address: '' },
            { id: 'b', address: '' },
            { id: 'w', address: '' },
          ],
          witnesses: ['w'],
        },
      };
      await saveSnapshot(engine, witnessed);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await loadSnapshot(engine), witnessed);
    });

    it('applies a batch in order: snapshot, truncateFrom, entries, compactBefore, hardState', async () => {
      await appendLogEntries(engine, entries(1, 8, 1));
      const batch: PersistBatch = {
        snapshot: snapshot(4, 1),
        truncateFrom: 7,
        entries: entries(7, 9, 2),
        compactBefore: 5,
        hardState: { currentTerm: 2, votedFor: 'n1' },
      };
      await engine.persist(batch);
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(await engine.load(), {
        hardState: { currentTerm: 2, votedFor: 'n1' },
        snapshot: snapshot(4, 1),
        entries: [...entries(5, 6, 1), ...entries(7, 9, 2)],
      });
    });

    it('refuses a whole batch when one part is invalid', async () => {
      await appendLogEntries(engine, entries(1, 3, 1));
      const bad: PersistBatch = {
        ...EMPTY_BATCH,
        hardState: { currentTerm: 5, votedFor: 'n3' },
        entries: [entry(5, 1)],
      };
      await assert.rejects(engine.persist(bad), { code: 'RAFT_INVARIANT' });
      await assert.rejects(engine.persist({ ...EMPTY_BATCH, truncateFrom: 0, snapshot: null }), {
        code: 'RAFT_INVARIANT',
      });
      assert.equal(await loadCurrentTerm(engine), 0);
      assert.deepEqual(await logShape(), [1, 3]);
    });

    it('applies concurrent writes in the order they were issued', async () => {
      const writes: Promise<void>[] = [];
      for (let index = 1; index <= 200; index += 1)
        writes.push(appendLogEntry(engine, entry(index, 1 + Math.floor(index / 50))));
      writes.push(truncateLog(engine, 150));
      writes.push(saveCurrentTerm(engine, 9));
      for (let index = 150; index <= 160; index += 1) writes.push(appendLogEntry(engine, entry(index, 9)));
      await Promise.all(writes);
      engine = await harness.reopen(engine);
      const state = await engine.load();
      assert.equal(state.hardState.currentTerm, 9);
      assert.equal(state.entries.length, 160);
      assert.deepStrictEqual(state.entries[149], entry(150, 9));
      assert.deepStrictEqual(state.entries[148], entry(149, 3));
    });

    it('serves durable entries synchronously by range (LogReader), and refuses a range it does not hold', async () => {
      assert.equal(engine.firstStoredIndex(), null);
      await engine.persist({ ...EMPTY_BATCH, entries: [...entries(1, 40, 1), entry(41, 2, 'config', 300)] });
      assert.equal(engine.firstStoredIndex(), 1);
      assert.deepStrictEqual(engine.readEntries(1, 41), [...entries(1, 40, 1), entry(41, 2, 'config', 300)]);
      assert.deepStrictEqual(engine.readEntries(7, 7), [entry(7, 1)]);
      assert.throws(() => engine.readEntries(40, 42), { code: 'STORAGE_CORRUPT' });
      await engine.persist({ ...EMPTY_BATCH, snapshot: snapshot(9, 1), truncateFrom: 30, compactBefore: 10 });
      assert.equal(engine.firstStoredIndex(), 10);
      assert.throws(() => engine.readEntries(9, 12), { code: 'STORAGE_CORRUPT' });
      assert.throws(() => engine.readEntries(28, 30), { code: 'STORAGE_CORRUPT' });
      assert.deepStrictEqual(engine.readEntries(10, 29), entries(10, 29, 1));
      engine = await harness.reopen(engine);
      assert.deepStrictEqual(engine.readEntries(25, 29), entries(25, 29, 1));
      // A snapshot at the last stored entry deletes the stored log (PersistBatch).
      await engine.persist({ ...EMPTY_BATCH, snapshot: snapshot(29, 1) });
      assert.equal(engine.firstStoredIndex(), null);
      assert.throws(() => engine.readEntries(28, 29), { code: 'STORAGE_CORRUPT' });
      await engine.close();
      assert.throws(() => engine.readEntries(1, 1), { code: 'STORAGE_CLOSED' });
      assert.throws(() => engine.firstStoredIndex(), { code: 'STORAGE_CLOSED' });
    });

    it('refuses everything once closed, with STORAGE_CLOSED', async () => {
      await appendLogEntry(engine, entry(1, 1));
      await engine.close();
      await assert.rejects(appendLogEntry(engine, entry(2, 1)), { code: 'STORAGE_CLOSED' });
      await assert.rejects(getLogEntry(engine, 1), { code: 'STORAGE_CLOSED' });
      await assert.rejects(engine.load(), { code: 'STORAGE_CLOSED' });
      engine = await harness.open();
      assert.deepStrictEqual(await getLogEntry(engine, 1), entry(1, 1));
    });
  });
}
