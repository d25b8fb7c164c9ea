// Child of wal-full-disk.test.ts, run under a file size limit (ulimit -f): opens the WAL engine
// on argv[2] with no checkpoint before close (LMDB stays small, the log grows), appends 2 KiB
// entries one at a time and prints "A <index>" once each is acknowledged; at the first refusal
// it prints "E <code>" and exits at once, as a node that stops on a storage error.
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { entry, walTestOptions } from '../helpers.js';
import { appendLogEntry } from '../reference-fields.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: full-disk-child.ts <dir>');
const engine = await WalPersistenceEngine.open(
  walTestOptions(dir, { walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 }),
);
for (let index = 1; index <= 100_000; index += 1) {
  try {
    await appendLogEntry(engine, entry(index, 1, 'command', 2048));
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
    process.stdout.write(`E ${code}\n`);
    process.exit(0);
  }
  process.stdout.write(`A ${index}\n`);
}
process.stdout.write('E none\n');
process.exit(0);
