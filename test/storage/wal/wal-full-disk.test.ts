// Proves that a full disk stops the write-ahead-log engine without losing an acknowledged write:
// a child process (fixtures/full-disk-child.ts, out of reach of `mocha test/storage/wal/`) runs
// under a file size limit (ulimit -f, 512 KiB less 512 bytes), so that
// growing its log segment fails as a full file system would (here a short write, then EFBIG), and
// appends until a write is refused. The refusal must be a PersistenceError STORAGE_FULL (the node
// then stops without acknowledging), and the directory, reopened without the limit, must hold
// every acknowledged entry and go on taking writes. Linux and a POSIX shell only.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntry } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

const CHILD = fileURLToPath(new URL('./fixtures/full-disk-child.ts', import.meta.url));
/**
 * The child's file size limit, in the 512-byte blocks of POSIX sh's ulimit -f: not a whole page, so that a zero
 * fill is cut short.
 */
const LIMIT_BLOCKS = 1023;

describe('WAL engine on a full disk', function () {
  this.timeout(scaledMs(60_000));
  let dir: string;

  beforeEach(function () {
    if (process.platform !== 'linux' || !existsSync('/bin/sh')) this.skip();
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('refuses the write that finds no room with STORAGE_FULL and keeps every acknowledged one', async () => {
    const child = spawnSync(
      '/bin/sh',
      ['-c', `ulimit -f ${LIMIT_BLOCKS} && exec "$0" --import tsx "$1" "$2"`, process.execPath, CHILD, dir],
      { encoding: 'utf8', timeout: scaledMs(50_000) },
    );
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stdout.trim().split('\n');
    const acked = lines.filter((line) => line.startsWith('A ')).length;
    assert.equal(lines.at(-1), 'E STORAGE_FULL', lines.slice(-3).join(' | '));
    // 512 KiB of 2 KiB entries, less the frames' and the LMDB file's share.
    assert.ok(acked > 100, `only ${acked} writes were acknowledged`);
    const engine = await WalPersistenceEngine.open(walTestOptions(dir));
    try {
      const { entries } = await engine.load();
      assert.ok(entries.length >= acked, `${entries.length} entries recovered, ${acked} acknowledged`);
      assert.deepStrictEqual(entries[acked - 1], entry(acked, 1, 'command', 2048));
      await appendLogEntry(engine, entry(entries.length + 1, 1, 'command', 2048));
    } finally {
      await engine.close();
    }
  });
});
