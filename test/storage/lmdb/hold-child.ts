// The child process of lmdb-conditions.test.ts (not a test itself): opens the LMDB engine on
// the directory given, prints "READY <pid>" and holds it open until it is killed or its stdin
// closes. Usage: hold-child.ts <dir>.
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { lmdbTestOptions } from '../helpers.js';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: hold-child.ts <dir>\n');
  process.exit(2);
}
const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
process.stdout.write(`READY ${process.pid}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void engine.close().then(() => process.exit(0));
});
