// Proves how the write-ahead-log engine recovers a data directory: it replays the records after
// the checkpoint; it truncates a torn tail (stray bytes after the last frame, or a damaged last
// frame: never acknowledged, the normal trace of a crash mid-write) and goes on writing; it
// refuses with STORAGE_CORRUPT, naming the place, a damaged frame that valid frames follow and
// a log whose first or middle segments are missing; and it goes on writing in a segment whose
// preallocated space ends right after its last frame, at any size (a crash before a growth step
// reached the disk). The directories are copies taken while an engine
// with no checkpoint threshold in reach was open (LMDB's file is consistent between commits),
// i.e. what a crash leaves, damaged on purpose where the test says so.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { readFrame } from '../../../storage/wal/wal-frame.js';
import { crashCopy, entries, entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries, appendLogEntry } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

/** No checkpoint before close: everything written stays in the log. */
const NO_CHECKPOINT = { walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 };

function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith('wal-') && name.endsWith('.log'))
    .sort();
}

/** Offsets of the frames of a segment, and the offset after the last. */
function frameOffsets(path: string): { offsets: number[]; end: number } {
  const buffer = readFileSync(path);
  const offsets: number[] = [];
  let offset = 0;
  for (let read = readFrame(buffer, 0); read.kind === 'frame'; read = readFrame(buffer, offset)) {
    offsets.push(offset);
    offset = read.nextOffset;
  }
  return { offsets, end: offset };
}

function patch(path: string, offset: number, bytes: Uint8Array): void {
  const buffer = readFileSync(path);
  buffer.set(bytes, offset);
  writeFileSync(path, buffer);
}

describe('WAL engine recovery', function () {
  this.timeout(scaledMs(30_000));
  let dir: string;
  let copy: string;
  let live: PersistenceEngine | null;

  beforeEach(() => {
    dir = makeTempDir();
    copy = makeTempDir();
    live = null;
  });

  afterEach(async () => {
    await live?.close();
    removeDir(dir);
    removeDir(copy);
  });

  /** Writes 1..count one entry per batch (term 1), a truncation and a vote, and copies the directory. */
  async function crashAfterWrites(count: number, overrides = {}): Promise<void> {
    live = await WalPersistenceEngine.open(walTestOptions(dir, { ...NO_CHECKPOINT, ...overrides }));
    for (let index = 1; index <= count; index += 1) await appendLogEntry(live, entry(index, 1));
    await live.persist({
      snapshot: null,
      truncateFrom: count,
      entries: [entry(count, 2)],
      compactBefore: null,
      hardState: { currentTerm: 2, votedFor: 'n2' },
    });
    crashCopy(dir, copy);
  }

  async function loadCopy(): Promise<Awaited<ReturnType<PersistenceEngine['load']>>> {
    const engine = await WalPersistenceEngine.open(walTestOptions(copy));
    try {
      return await engine.load();
    } finally {
      await engine.close();
    }
  }

  it('replays every record after the checkpoint', async () => {
    await crashAfterWrites(50);
    assert.equal(segments(copy).length, 1);
    assert.deepStrictEqual(await loadCopy(), {
      hardState: { currentTerm: 2, votedFor: 'n2' },
      snapshot: null,
      entries: [...entries(1, 49, 1), entry(50, 2)],
    });
  });

  it('zeroes stray bytes after the last frame (a torn write) and goes on writing', async () => {
    await crashAfterWrites(20);
    const segment = join(copy, segments(copy)[0] ?? '');
    const { end } = frameOffsets(segment);
    patch(segment, end + 5, Buffer.from('torn write'));
    const engine = await WalPersistenceEngine.open(walTestOptions(copy));
    try {
      assert.deepEqual(readFileSync(segment).subarray(end, end + 64), Buffer.alloc(64));
      await appendLogEntry(engine, entry(21, 2));
    } finally {
      await engine.close();
    }
    const state = await loadCopy();
    assert.deepStrictEqual(state.entries.slice(-2), [entry(20, 2), entry(21, 2)]);
  });

  it('recovers a torn tail whose zeroing never reached the disk, after frames written over it', async () => {
    await crashAfterWrites(20);
    const segment = join(copy, segments(copy)[0] ?? '');
    const { end } = frameOffsets(segment);
    const stray = Buffer.alloc(6000, 0x5a);
    patch(segment, end, stray);
    // Open (the tail is zeroed, not synced), write two entries over it, and take what a crash leaves.
    const engine = await WalPersistenceEngine.open(walTestOptions(copy, NO_CHECKPOINT));
    const lost = makeTempDir();
    try {
      await appendLogEntry(engine, entry(21, 2));
      await appendLogEntry(engine, entry(22, 2));
      crashCopy(copy, lost);
    } finally {
      await engine.close();
    }
    // As if the zeros never reached the disk: the stray bytes are back wherever the new frames did not cover them.
    const lostSegment = join(lost, segments(lost)[0] ?? '');
    const after = frameOffsets(lostSegment).end;
    assert.ok(after > end && after < end + stray.length, 'the new frames cover part of the stray bytes');
    patch(lostSegment, after, stray.subarray(after - end));
    try {
      const reopened = await WalPersistenceEngine.open(walTestOptions(lost));
      try {
        assert.deepStrictEqual((await reopened.load()).entries.slice(-3), [entry(20, 2), entry(21, 2), entry(22, 2)]);
        assert.deepEqual(
          readFileSync(lostSegment).subarray(after, end + stray.length),
          Buffer.alloc(end + stray.length - after),
        );
      } finally {
        await reopened.close();
      }
    } finally {
      removeDir(lost);
    }
  });

  it('drops a damaged last frame, which was never acknowledged, and keeps the rest', async () => {
    await crashAfterWrites(20);
    const segment = join(copy, segments(copy)[0] ?? '');
    const { offsets } = frameOffsets(segment);
    patch(segment, (offsets[offsets.length - 1] ?? 0) + 30, Buffer.from([0xff, 0xee]));
    assert.deepStrictEqual(await loadCopy(), {
      hardState: { currentTerm: 0, votedFor: null },
      snapshot: null,
      entries: entries(1, 20, 1),
    });
  });

  it('refuses a damaged frame that valid frames follow, naming segment and offset', async () => {
    await crashAfterWrites(20);
    const segment = join(copy, segments(copy)[0] ?? '');
    const { offsets } = frameOffsets(segment);
    const damaged = offsets[3] ?? 0;
    patch(segment, damaged + 30, Buffer.from([0xff]));
    await assert.rejects(WalPersistenceEngine.open(walTestOptions(copy)), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'STORAGE_CORRUPT');
      assert.match(
        error.message,
        new RegExp(
          `${segments(copy)[0] ?? ''}: the frame at offset ${damaged} is damaged \\(checksum mismatch\\) but a ` +
            `valid frame follows`,
        ),
      );
      return true;
    });
  });

  it('refuses a log whose first segment is missing', async () => {
    await crashAfterWrites(1);
    for (let index = 2; live !== null && index <= 2000; index += 50)
      await appendLogEntries(
        live,
        entries(index, index + 49, 2).map((e) => ({ ...e, command: new Uint8Array(900) })),
      );
    crashCopy(dir, copy);
    const names = segments(copy);
    assert.ok(names.length >= 2, `the log spans ${names.length} segments`);
    unlinkSync(join(copy, names[0] ?? ''));
    await assert.rejects(WalPersistenceEngine.open(walTestOptions(copy)), {
      code: 'STORAGE_CORRUPT',
      message: /records are missing/,
    });
  });

  /** Writes enough 900-byte entries after a crashAfterWrites(1) to span `count` segments or more, and copies. */
  async function crashAcrossSegments(count: number): Promise<string[]> {
    await crashAfterWrites(1);
    for (let index = 2; live !== null && segments(dir).length < count; index += 50)
      await appendLogEntries(
        live,
        entries(index, index + 49, 2).map((e) => ({ ...e, command: new Uint8Array(900) })),
      );
    crashCopy(dir, copy);
    const names = segments(copy);
    assert.ok(names.length >= count, `the log spans ${names.length} segments`);
    return names;
  }

  it('refuses a log with a segment missing in the middle, naming it', async () => {
    const names = await crashAcrossSegments(3);
    unlinkSync(join(copy, names[1] ?? ''));
    await assert.rejects(WalPersistenceEngine.open(walTestOptions(copy)), {
      code: 'STORAGE_CORRUPT',
      message: new RegExp(`log segment ${names[1] ?? ''} is missing between ${names[0] ?? ''} and ${names[2] ?? ''}`),
    });
  });

  it('goes on writing in a segment whose space ends right after its last frame', async () => {
    await crashAfterWrites(30);
    const segment = join(copy, segments(copy)[0] ?? '');
    // As if no growth step had reached the disk: the file ends 3 bytes past the last frame.
    truncateSync(segment, frameOffsets(segment).end + 3);
    const engine = await WalPersistenceEngine.open(walTestOptions(copy));
    try {
      for (let index = 31; index <= 120; index += 1)
        await appendLogEntry(engine, { ...entry(index, 2), command: new Uint8Array(2000).fill(index) });
    } finally {
      await engine.close();
    }
    const state = await loadCopy();
    assert.equal(state.entries.length, 120);
    assert.deepStrictEqual(state.entries[119], { ...entry(120, 2), command: new Uint8Array(2000).fill(120) });
  });

  describe('with frames across the windows a segment is read through (1 MiB)', () => {
    /** Segments of 4 MiB and entries of 100 kB: 34 fill more than three windows, frames straddle their edges. */
    const BIG = { ...NO_CHECKPOINT, walSegmentBytes: 4 * 1024 * 1024, walFrameBytesMax: 256 * 1024 };
    const bigEntry = (index: number): ReturnType<typeof entry> => entry(index, 1, 'command', 100_000);

    async function crashAfterBigWrites(count: number): Promise<string> {
      live = await WalPersistenceEngine.open(walTestOptions(dir, BIG));
      for (let index = 1; index <= count; index += 1) await appendLogEntry(live, bigEntry(index));
      crashCopy(dir, copy);
      return join(copy, segments(copy)[0] ?? '');
    }

    async function loadBig(): Promise<Awaited<ReturnType<PersistenceEngine['load']>>> {
      const engine = await WalPersistenceEngine.open(walTestOptions(copy, BIG));
      try {
        return await engine.load();
      } finally {
        await engine.close();
      }
    }

    const bigEntries = (from: number, to: number): ReturnType<typeof entry>[] =>
      Array.from({ length: to - from + 1 }, (_, i) => bigEntry(from + i));

    it('replays every frame', async () => {
      const segment = await crashAfterBigWrites(34);
      assert.ok(frameOffsets(segment).end > 3 * 1024 * 1024, 'the frames fill more than three windows');
      assert.deepStrictEqual((await loadBig()).entries, bigEntries(1, 34));
    });

    it('refuses a damaged frame past the first window that valid frames follow, naming its offset', async () => {
      const segment = await crashAfterBigWrites(34);
      const { offsets } = frameOffsets(segment);
      // The frame that holds the second window's edge.
      const damaged = offsets.filter((offset) => offset < 2 * 1024 * 1024).pop() ?? 0;
      assert.ok(damaged > 1024 * 1024);
      patch(segment, damaged + 30, Buffer.from([0xff]));
      await assert.rejects(WalPersistenceEngine.open(walTestOptions(copy, BIG)), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'STORAGE_CORRUPT');
        assert.match(error.message, new RegExp(`the frame at offset ${damaged} is damaged \\(checksum mismatch\\)`));
        return true;
      });
    });

    it('drops a damaged last frame and zeroes stray bytes after the frames, past the first window', async () => {
      const segment = await crashAfterBigWrites(34);
      const { offsets, end } = frameOffsets(segment);
      const last = offsets[offsets.length - 1] ?? 0;
      patch(segment, last + 30, Buffer.from([0xff, 0xee]));
      const crashed = readFileSync(segment);
      assert.deepStrictEqual((await loadBig()).entries, bigEntries(1, 33));
      // The clean close cut the segment at its last frame (SegmentWriter.close): back to what the crash left.
      assert.equal(statSync(segment).size, last);
      writeFileSync(segment, crashed);
      patch(segment, end + 4096 + 5, Buffer.from('torn write'));
      const engine = await WalPersistenceEngine.open(walTestOptions(copy, BIG));
      try {
        assert.deepEqual(readFileSync(segment).subarray(last, end + 8192), Buffer.alloc(end + 8192 - last));
      } finally {
        await engine.close();
      }
    });
  });
});
