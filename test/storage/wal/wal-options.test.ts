/**
 * The log's default memory bound, sized for a gateway: the entries of the records that wait for a
 * checkpoint (at most walPendingBytesMax of records) are held in memory, so that bound, times what
 * a pending byte measurably costs in memory, must leave most of the 256 MB unit's heap to the rest
 * of the agent.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UNIT_MEMORY_MAX_MIB, sizeForMemoryMax } from '../../../agent/fleet/memory-sizing.js';
import { DEFAULT_WAL_OPTIONS } from '../../../storage/wal/wal-options.js';
import { makeTempDir, removeDir } from '../helpers.js';
import { scaledMs } from '../../timing.js';

const MIB = 1024 * 1024;
/** The share of the unit's old space the pending records may take at most. */
const PENDING_SHARE_OF_OLD_SPACE = 1 / 4;

const CHILD = fileURLToPath(new URL('./fixtures/pending-cost.ts', import.meta.url));

describe('WAL options', function () {
  this.timeout(scaledMs(60_000));
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
  });

  it('bounds the pending records to a quarter of the 256 MB unit heap, as measured in memory', () => {
    // Measured in a process of its own (fixtures/pending-cost.ts), where no other test's memory
    // moves the figure.
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dir], {
      encoding: 'utf8',
      timeout: scaledMs(50_000),
    });
    assert.equal(child.status, 0, child.stderr);
    const perPendingByte = Number(child.stdout.trim());
    assert.ok(Number.isFinite(perPendingByte) && perPendingByte >= 1, `measured: ${child.stdout}`);
    const bound = DEFAULT_WAL_OPTIONS.walPendingBytesMax * perPendingByte;
    const share = sizeForMemoryMax(UNIT_MEMORY_MAX_MIB).maxOldSpaceMiB * MIB * PENDING_SHARE_OF_OLD_SPACE;
    assert.ok(
      bound <= share,
      `walPendingBytesMax ${DEFAULT_WAL_OPTIONS.walPendingBytesMax / MIB} MiB x ${perPendingByte.toFixed(2)} ` +
        `bytes held per pending byte = ${(bound / MIB).toFixed(1)} MiB, over ${(share / MIB).toFixed(1)} MiB`,
    );
  });
});
