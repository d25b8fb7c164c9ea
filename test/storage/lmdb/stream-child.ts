// The child process of lmdb-snapshot-stream.test.ts (not a test itself): opens the engine named
// on the directory given (crash-engines.ts), begins a snapshot at index 20, writes `records`
// records of it, waits until their transactions have ended, prints "WRITTEN" and waits to be
// killed. Usage: stream-child.ts <dir> <lmdb|wal> <records>.
import { isCrashEngineName, openCrashEngine } from '../crash-engines.js';
import { snapshot } from '../helpers.js';
import { SNAPSHOT_RECORD_BYTES } from '../../../storage/lmdb/lmdb-snapshot.js';

const [dir, engineName, recordsText] = process.argv.slice(2);
if (dir === undefined || !isCrashEngineName(engineName) || recordsText === undefined) {
  process.stderr.write('usage: stream-child.ts <dir> <lmdb|wal> <records>\n');
  process.exit(2);
}
const engine = await openCrashEngine(engineName, dir);
const image = snapshot(20, 3, Number(recordsText) * SNAPSHOT_RECORD_BYTES);
const writer = engine.beginSnapshot(image, image.data.byteLength);
for (let at = 0; at < image.data.byteLength; at += SNAPSHOT_RECORD_BYTES)
  await writer.write(image.data.subarray(at, at + SNAPSHOT_RECORD_BYTES));
const slots = Reflect.get(engine, 'slots') as { idle(): Promise<void> };
await slots.idle();
process.stdout.write('WRITTEN\n');
setInterval(() => undefined, 60_000);
