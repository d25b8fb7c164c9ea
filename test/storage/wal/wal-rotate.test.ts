// Proves that a frame larger than a new segment's first step of zeros (64 KiB) survives: the
// segment is grown before the frame is written, so the growth's zero fill (from the old
// capacity) never overwrites an acknowledged frame. Before, the first frame of a segment made
// new (no spare: the first rotation after open) was written past its 64 KiB at once, then the
// growth zeroed its tail; the next open refused the log ("the frame at offset 0 is damaged
// (checksum mismatch) but a valid frame follows"), found on a follower restarted after 4 KiB load.
// Two sizes: about 100 KiB frames (25 entries of 4 KiB) on the test options' 1 MiB segments,
// and about 3 MiB frames (three 1 MiB entries), larger than a growth step (GROW_BYTES_MAX), on
// the agent's options (16 MiB segments, frames up to 4 MiB). Both fail without the fix.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LogEntry } from '../../../contracts/log.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import type { WalPersistenceOptions } from '../../../storage/wal/wal-engine.js';
import { GROW_BYTES_MAX, GROW_BYTES_MIN } from '../../../storage/wal/wal-prealloc.js';
import { segmentName } from '../../../storage/wal/wal-segments.js';
import { crashCopy, entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** No checkpoint: every segment stays, so each next segment is made new (not of a spare). */
const NO_CHECKPOINT = { walCheckpointBytes: 512 * MIB, walPendingBytesMax: 1024 * MIB };

/** A batch of `count` entries of `bytes` each from index `from`: one frame. */
function bigBatch(from: number, count: number, bytes: number): LogEntry[] {
  const list: LogEntry[] = [];
  for (let index = from; index < from + count; index += 1)
    list.push({ ...entry(index, 1), command: new Uint8Array(bytes).fill(index % 251) });
  return list;
}

interface FrameCase {
  readonly name: string;
  readonly options: (dir: string) => WalPersistenceOptions;
  readonly count: number;
  readonly bytes: number;
  /** The step the frame is larger than. */
  readonly step: number;
}

const CASES: readonly FrameCase[] = [
  {
    name: "a new segment's first step (test options, 1 MiB segments)",
    options: (dir) => walTestOptions(dir, { walFrameBytesMax: 256 * KIB, ...NO_CHECKPOINT }),
    count: 25,
    bytes: 4 * KIB,
    step: GROW_BYTES_MIN,
  },
  {
    name: "a growth step (the agent's options, 16 MiB segments)",
    // The agent sets the path, createDirectory and mapSizeMaxBytes (agent/runtime/open-storage.ts).
    options: (dir) => ({ path: dir, mapSizeMaxBytes: 1024 * MIB, ...NO_CHECKPOINT }),
    count: 3,
    bytes: MIB,
    step: GROW_BYTES_MAX,
  },
];

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

  for (const { name, options: optionsFor, count, bytes, step } of CASES) {
    it(`keeps a frame larger than ${name} whole after the segment grows`, async () => {
      assert.ok(count * bytes > step, 'the frame is larger than the step');
      const options = optionsFor(dir);
      const engine = await WalPersistenceEngine.open(options);
      let next = 1;
      try {
        while (!existsSync(join(dir, segmentName(3)))) {
          await appendLogEntries(engine, bigBatch(next, count, bytes));
          next += count;
        }
        // Two more frames, so that growths of the segment run after its first frame.
        for (let i = 0; i < 2; i += 1) {
          await appendLogEntries(engine, bigBatch(next, count, bytes));
          next += count;
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
        assert.deepStrictEqual(state.entries[next - 2], bigBatch(next - count, count, bytes)[count - 1]);
      } finally {
        await reopened.close();
      }
    });
  }
});
