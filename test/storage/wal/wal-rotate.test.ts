// Proves that a frame larger than a new segment's first step of zeros (64 KiB) survives: the
// segment is grown before the frame is written, so the growth's zero fill (from the old
// capacity) never overwrites an acknowledged frame. Before, the first frame of a segment made
// new (no spare: the first rotation after open) was written past its 64 KiB at once, then the
// growth zeroed its tail; the next open refused the log ("the frame at offset 0 is damaged
// (checksum mismatch) but a valid frame follows"), found on a follower restarted after 4 KiB load.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LogEntry } from '../../../contracts/log.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { segmentName } from '../../../storage/wal/wal-segments.js';
import { crashCopy, entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

/** 25 entries of 4 KiB: one frame of about 100 KiB. */
function bigBatch(from: number): LogEntry[] {
  const list: LogEntry[] = [];
  for (let index = from; index < from + 25; index += 1)
    list.push({ ...entry(index, 1), command: new Uint8Array(4096).fill(index % 251) });
  return list;
}

describe('WAL segment rotation', function () {
  this.timeout(scaledMs(60_000));
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

  it("keeps a frame larger than a new segment's first step whole after the segment grows", async () => {
    // No checkpoint: segment 1 stays, so segment 2 is made new (not of a spare).
    const options = walTestOptions(dir, {
      walFrameBytesMax: 256 * 1024,
      walCheckpointBytes: 512 * 1024 * 1024,
      walPendingBytesMax: 1 << 30,
    });
    const engine = await WalPersistenceEngine.open(options);
    let next = 1;
    try {
      while (!existsSync(join(dir, segmentName(3)))) {
        await appendLogEntries(engine, bigBatch(next));
        next += 25;
      }
      // Two more frames, so that growths of the segment run after its first frame.
      for (let i = 0; i < 2; i += 1) {
        await appendLogEntries(engine, bigBatch(next));
        next += 25;
      }
      // What a crash leaves: every entry is in the log only (no checkpoint).
      crashCopy(dir, copy);
    } finally {
      await engine.close();
    }
    const reopened = await WalPersistenceEngine.open({ ...options, path: copy });
    try {
      const state = await reopened.load();
      assert.equal(state.entries.length, next - 1);
      assert.deepStrictEqual(state.entries[next - 2], bigBatch(next - 25)[24]);
    } finally {
      await reopened.close();
    }
  });
});
