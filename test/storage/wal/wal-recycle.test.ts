// Proves segment recycling in the write-ahead log (issue 17, write amplification): a segment
// wholly below the checkpoint becomes the spare, and the next segment is that file (same inode)
// with its first frame zeroed, not a new file zero-filled step by step; and recovery keeps
// "nothing acknowledged is lost" on a recycled segment, whose bytes past the last frame are the
// stale frames of its earlier life: it replays the log and ignores them, drops a torn frame
// written over them, opens a recycled segment that holds no frame yet, and still refuses a
// damaged frame that a frame of the log (not a stale one) follows. The directories are copies
// taken while the engine was open (wal-recover.test.ts: what a crash leaves).
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogEntry } from '../../../contracts/log.js';
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { encodeBatchRecord, encodeFrame, readFrame } from '../../../storage/wal/wal-frame.js';
import { recoverWal } from '../../../storage/wal/wal-recover.js';
import { SPARE_SEGMENT_NAME, firstFrameBytes, segmentName } from '../../../storage/wal/wal-segments.js';
import { crashCopy, entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

/** Entries of 900 bytes: a 1 MiB segment (walTestOptions) holds some 1,100 of them. */
function bigEntries(from: number, count: number): LogEntry[] {
  const list: LogEntry[] = [];
  for (let index = from; index < from + count; index += 1)
    list.push({ ...entry(index, 1), command: new Uint8Array(900).fill(index % 251) });
  return list;
}

/** The frames of a segment from offset 0 while each continues the one before: [firstSeq, lastSeq, offset]. */
function logFrames(path: string): { frames: [number, number, number][]; end: number } {
  const buffer = readFileSync(path);
  const frames: [number, number, number][] = [];
  let offset = 0;
  for (let read = readFrame(buffer, 0); read.kind === 'frame'; read = readFrame(buffer, offset)) {
    const last = frames[frames.length - 1];
    if (last !== undefined && read.firstSeq !== last[1] + 1) break;
    frames.push([read.firstSeq, read.firstSeq + read.count - 1, offset]);
    offset = read.nextOffset;
  }
  return { frames, end: offset };
}

/** The first valid frame at or after `from` (8-byte steps): its first sequence number and offset, or null. */
function nextValidFrame(path: string, from: number): { firstSeq: number; offset: number } | null {
  const buffer = readFileSync(path);
  for (let at = from; at + 24 <= buffer.length; at += 8) {
    const read = readFrame(buffer, at);
    if (read.kind === 'frame') return { firstSeq: read.firstSeq, offset: at };
  }
  return null;
}

describe('WAL segment recycling', function () {
  this.timeout(scaledMs(60_000));
  let dir: string;
  let copy: string;
  let live: PersistenceEngine | null;
  /** The index of the next entry writeInto writes. */
  let next: number;

  beforeEach(() => {
    dir = makeTempDir();
    copy = makeTempDir();
    live = null;
    next = 1;
  });

  afterEach(async () => {
    await live?.close();
    removeDir(dir);
    removeDir(copy);
  });

  /**
   * Writes 900-byte entries, 40 to a batch (one record, one frame), until segment `number` exists
   * and holds `frames` frames and `also` holds (checkpoints every 2 KiB, so older segments are
   * deleted as they fill); returns the last index written.
   */
  async function writeInto(number: number, frames: number, also = (): boolean => true): Promise<number> {
    live ??= await WalPersistenceEngine.open(walTestOptions(dir));
    const path = join(dir, segmentName(number));
    while (!existsSync(path) || logFrames(path).frames.length < frames || !also()) {
      await appendLogEntries(live, bigEntries(next, 40));
      next += 40;
    }
    return next - 1;
  }

  async function loadCopy(): Promise<Awaited<ReturnType<PersistenceEngine['load']>>> {
    const engine = await WalPersistenceEngine.open(walTestOptions(copy));
    try {
      return await engine.load();
    } finally {
      await engine.close();
    }
  }

  it('makes the next segment of a deleted one (same file), with its first frame zeroed', async () => {
    await writeInto(1, 1);
    const first = statSync(join(dir, segmentName(1))).ino;
    await writeInto(2, 1);
    await writeInto(3, 1, () => existsSync(join(dir, SPARE_SEGMENT_NAME)));
    assert.equal(existsSync(join(dir, segmentName(1))), false, 'segment 1 is below the checkpoint');
    const third = join(dir, segmentName(3));
    assert.equal(statSync(third).ino, first, 'segment 3 is the file of segment 1');
    assert.equal(statSync(third).size, 1024 * 1024, 'a recycled segment needs no growth');
    // Past the new frames, the stale frames of segment 1 (records below segment 3's first).
    const { frames, end } = logFrames(third);
    const stale = nextValidFrame(third, end);
    assert.ok(stale !== null, 'segment 3 holds stale frames past its own');
    assert.ok(stale.firstSeq < (frames[0]?.[0] ?? 0), `stale record ${stale.firstSeq} is below the log's`);
    assert.ok(existsSync(join(dir, SPARE_SEGMENT_NAME)), 'segment 2 is the next spare');
  });

  it('replays a recycled segment after a crash and ignores its stale frames, then goes on', async () => {
    const last = await writeInto(3, 5);
    crashCopy(dir, copy);
    const engine = await WalPersistenceEngine.open(walTestOptions(copy));
    try {
      assert.equal((await engine.load()).entries.length, last);
      await appendLogEntries(engine, bigEntries(last + 1, 40));
    } finally {
      await engine.close();
    }
    const state = await loadCopy();
    assert.equal(state.entries.length, last + 40);
    assert.deepStrictEqual(state.entries[last + 39], bigEntries(last + 40, 1)[0]);
  });

  it('drops a torn frame written over stale frames, and loses no acknowledged write', async () => {
    const last = await writeInto(3, 5);
    crashCopy(dir, copy);
    const third = join(copy, segmentName(3));
    const { frames } = logFrames(third);
    const lastFrame = frames[frames.length - 1];
    assert.ok(lastFrame !== undefined);
    // The last frame torn: its tail bytes never reached the disk. Stale frames follow it.
    const buffer = readFileSync(third);
    buffer.fill(0xa5, lastFrame[2] + 100, lastFrame[2] + 200);
    writeFileSync(third, buffer);
    const torn = 40 * (lastFrame[1] - lastFrame[0] + 1);
    const state = await loadCopy();
    assert.equal(state.entries.length, last - torn);
    assert.deepStrictEqual(state.entries[last - torn - 1], bigEntries(last - torn, 1)[0]);
  });

  it('opens a recycled segment that holds no frame yet (a crash right after it was made)', async () => {
    const last = await writeInto(3, 1, () => existsSync(join(dir, SPARE_SEGMENT_NAME)));
    crashCopy(dir, copy);
    // Segment 4 as the writer makes it of the spare: first frame zeroed, then the rest stale.
    const spare = readFileSync(join(copy, SPARE_SEGMENT_NAME));
    spare.fill(0, 0, firstFrameBytes(spare.subarray(0, 24)));
    writeFileSync(join(copy, segmentName(4)), spare);
    const state = await loadCopy();
    assert.equal(state.entries.length, last);
  });

  it('refuses a damaged frame in a recycled segment that a frame of the log follows', async () => {
    await writeInto(3, 5);
    crashCopy(dir, copy);
    const third = join(copy, segmentName(3));
    const second = logFrames(third).frames[1];
    assert.ok(second !== undefined);
    const buffer = readFileSync(third);
    buffer[second[2] + 40] = (buffer[second[2] + 40] ?? 0) ^ 0xff;
    writeFileSync(third, buffer);
    await assert.rejects(WalPersistenceEngine.open(walTestOptions(copy)), {
      code: 'STORAGE_CORRUPT',
      message: new RegExp(`${segmentName(3)}: the frame at offset ${second[2]} is damaged`),
    });
  });

  it('ends the log at its last frame on a clean close: the recycled tail cut, the next segment deleted', async () => {
    // Segment 3 recycled, past half its space: segment 4 is made ahead of use (of the spare, stale frames too).
    const last = await writeInto(3, 16, () => existsSync(join(dir, segmentName(4))));
    const third = join(dir, segmentName(3));
    const { end } = logFrames(third);
    assert.ok(nextValidFrame(third, end) !== null, 'segment 3 holds stale frames past its own');
    await live?.close();
    live = null;
    assert.equal(statSync(third).size, end, 'segment 3 ends at its last frame');
    assert.equal(existsSync(join(dir, segmentName(4))), false, 'the segment made ahead of use is deleted');
    live = await WalPersistenceEngine.open(walTestOptions(dir));
    assert.equal((await live.load()).entries.length, last);
    // The log goes on from there: into the space cut off (zero-filled again), then into new segments.
    await writeInto(5, 1);
    const written = next - 1;
    await live.close();
    live = null;
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    try {
      const state = await engine.load();
      assert.equal(state.entries.length, written);
      assert.deepStrictEqual(state.entries[written - 1], bigEntries(written, 1)[0]);
    } finally {
      await engine.close();
    }
  });

  it('deletes a spare found when the log opens (only a segment it saw reach the checkpoint is recycled)', async () => {
    // A spare of unknown origin: its frame's records are above anything this log holds.
    writeFileSync(join(dir, SPARE_SEGMENT_NAME), encodeFrame(1_000_000, [Buffer.alloc(100, 1)]));
    live = await WalPersistenceEngine.open(walTestOptions(dir));
    assert.equal(existsSync(join(dir, SPARE_SEGMENT_NAME)), false);
    const last = await writeInto(2, 3);
    await live.close();
    live = null;
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    try {
      assert.equal((await engine.load()).entries.length, last);
    } finally {
      await engine.close();
    }
  });

  /**
   * Segment 1 as the writer leaves a recycled file for segment 2: frames of records 1-2 (the new
   * life), then the middle of a stale frame of another size (not on a frame boundary), then a
   * whole stale frame; segment 2 starts with record `nextFirst`.
   */
  function sealedRecycled(nextFirst: number): void {
    const record = (index: number): Buffer =>
      encodeBatchRecord({
        snapshot: null,
        truncateFrom: null,
        entries: [{ ...entry(index, 1), command: new Uint8Array(300).fill(index) }],
        compactBefore: null,
        hardState: null,
      });
    const segment = Buffer.alloc(64 * 1024);
    const own = Buffer.concat([encodeFrame(1, [record(1)]), encodeFrame(2, [record(2)])]);
    segment.set(own, 0);
    const staleBig = encodeFrame(1, [record(1), record(2), record(3)]);
    // Remains of a stale frame: its part past 100 bytes, starting right after the new frames.
    segment.set(staleBig.subarray(100), own.length);
    segment.set(encodeFrame(2, [record(2)]), own.length + staleBig.length);
    writeFileSync(join(copy, segmentName(1)), segment);
    const next = Buffer.alloc(64 * 1024);
    next.set(encodeFrame(nextFirst, [record(nextFirst)]), 0);
    writeFileSync(join(copy, segmentName(2)), next);
  }

  it('ignores the remains of stale frames past the last frame of a segment the next one continues', () => {
    sealedRecycled(3);
    const recovered = recoverWal(copy, 0);
    assert.deepStrictEqual(
      recovered.records.map((record) => record.seq),
      [1, 2, 3],
    );
    assert.equal(recovered.tornBytes, 0);
  });

  it('refuses bytes past the last frame of an earlier segment when the next does not continue it', () => {
    sealedRecycled(4);
    assert.throws(() => recoverWal(copy, 0), {
      code: 'STORAGE_CORRUPT',
      message: new RegExp(`${segmentName(1)}: the frame at offset \\d+ is damaged`),
    });
  });

  it('zeroes a whole first frame, or eight bytes of anything else', () => {
    const frame = encodeFrame(7, [Buffer.alloc(1000, 1)]);
    assert.equal(firstFrameBytes(frame.subarray(0, 24)), frame.length);
    assert.equal(firstFrameBytes(Buffer.alloc(24)), 8);
    assert.equal(firstFrameBytes(Buffer.alloc(24, 0x5a)), 8);
  });
});
