/**
 * The log's default memory bound, sized for a gateway: the entries of the records that wait for a
 * checkpoint (at most walPendingBytesMax of records) are held in memory, so that bound, times what
 * a pending byte measurably costs in memory, must leave most of the 256 MB unit's heap to the rest
 * of the agent.
 */
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UNIT_MEMORY_MAX_MIB, sizeForMemoryMax } from '../../../agent/fleet/memory-sizing.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { Checkpointer } from '../../../storage/wal/wal-checkpoint.js';
import { DEFAULT_WAL_OPTIONS } from '../../../storage/wal/wal-options.js';
import { makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries } from '../reference-fields.js';

const MIB = 1024 * 1024;
/** The share of the unit's old space the pending records may take at most. */
const PENDING_SHARE_OF_OLD_SPACE = 1 / 4;

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function heldBytes(): number {
  collect();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

describe('WAL options', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
  });

  it('bounds the pending records to a quarter of the 256 MB unit heap, as measured in memory', async () => {
    // No checkpoint runs: every record stays pending. Commands of 256 B, as the soak writes.
    const engine = await WalPersistenceEngine.open(
      walTestOptions(dir, { walCheckpointBytes: 512 * MIB, walPendingBytesMax: 1024 * MIB }),
    );
    try {
      const checkpointer: unknown = Reflect.get(engine, 'checkpointer');
      assert.ok(checkpointer instanceof Checkpointer);
      const before = heldBytes();
      for (let index = 1; checkpointer.pendingBytes() < 4 * MIB; index += 64) {
        const batch = Array.from({ length: 64 }, (_, i) => ({
          index: index + i,
          term: 1,
          type: 'command' as const,
          command: new Uint8Array(256).fill(i),
        }));
        await appendLogEntries(engine, batch);
      }
      const perPendingByte = (heldBytes() - before) / checkpointer.pendingBytes();
      const bound = DEFAULT_WAL_OPTIONS.walPendingBytesMax * perPendingByte;
      const share = sizeForMemoryMax(UNIT_MEMORY_MAX_MIB).maxOldSpaceMiB * MIB * PENDING_SHARE_OF_OLD_SPACE;
      assert.ok(
        bound <= share,
        `walPendingBytesMax ${DEFAULT_WAL_OPTIONS.walPendingBytesMax / MIB} MiB x ${perPendingByte.toFixed(2)} ` +
          `bytes held per pending byte = ${(bound / MIB).toFixed(1)} MiB, over ${(share / MIB).toFixed(1)} MiB`,
      );
    } finally {
      await engine.close();
    }
  });
});
