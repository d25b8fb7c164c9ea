// The child process of the crash tests (crash-property.ts; not a test itself): opens the engine
// named on the directory given, loads it, then writes the CrashWorkload of the seed given as
// fast as it can with a fixed number of writes in flight, printing "A <n>" once batch n
// (0-based) is acknowledged, until the parent kills it.
// Usage: crash-child.ts <dir> <seed> <inflight> <mixed|snapshots|large|bulk> <lmdb|wal|wal-background|wal-defaults>.
import { isCrashEngineName, openCrashEngine } from './crash-engines.js';
import { CrashWorkload, isCrashWorkloadMode } from './crash-workload.js';

const [dir, seedText, inflightText, mode, engineName] = process.argv.slice(2);
if (
  dir === undefined ||
  seedText === undefined ||
  inflightText === undefined ||
  !isCrashWorkloadMode(mode) ||
  !isCrashEngineName(engineName)
) {
  process.stderr.write(
    'usage: crash-child.ts <dir> <seed> <inflight> <mixed|snapshots|large|bulk> ' +
      '<lmdb|wal|wal-background|wal-defaults>\n',
  );
  process.exit(2);
}
const inflight = Number(inflightText);
const engine = await openCrashEngine(engineName, dir);
const workload = new CrashWorkload(await engine.load(), Number(seedText), mode);
process.stdout.write('READY\n');

let issued = 0;
let acked = 0;
const OPS_MAX = 1_000_000;

// Writes resolve in the order they were issued; stdout on a pipe is synchronous on Linux, so
// an "A" line is in the pipe before the next write is issued.
function issue(): void {
  if (issued >= OPS_MAX) return;
  const n = issued;
  issued += 1;
  engine.persist(workload.next()).then(
    () => {
      if (n !== acked) throw new Error(`acknowledgement ${n} out of order, expected ${acked}`);
      acked += 1;
      process.stdout.write(`A ${n}\n`);
      issue();
    },
    (error: unknown) => {
      process.stdout.write(`E ${String(error)}\n`);
      process.exit(3);
    },
  );
}
for (let i = 0; i < inflight; i += 1) issue();
