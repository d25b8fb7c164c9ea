// Property 9 with real crashes, shared by the engines on disk (lmdb/lmdb-crash.test.ts,
// wal/wal-crash.test.ts): a child process (crash-child.ts) writes a deterministic workload
// (appends, truncations, hard-state changes, 1 MiB+ snapshots with compaction) to a data
// directory as fast as it can with 8 writes in flight, reporting each acknowledged batch on
// stdout; the parent kills it with SIGKILL at a seeded random moment, many times on one
// directory, then more times with a workload that replaces a 1 MiB+ snapshot in nearly every
// batch (so that kills land mid-snapshot: the old or the new image must survive whole). After
// each kill the parent reopens the directory (taking over the dead child's stale lock), loads
// it, regenerates the same workload from the state it verified before the round, and requires
// the recovered state to equal the model after exactly k batches for some k between the number
// acknowledged and that plus the writes that were in flight: every acknowledged write is there,
// the log is contiguous (load() checks it), and what was not acknowledged appears only as a
// whole prefix, in order. `runMsMax` bounds how long a child writes before its kill (default
// 200 ms; longer where a round must fill a segment of the agent's default 16 MiB). Replay with
// CRASH_SEED=<seed>.
import { snapshotHeaderOf } from '../../storage/snapshot-writer.js';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { PersistedState } from '../../contracts/persistence.js';
import { SeededPrng } from '../../contracts/prng.js';
import { parseSegmentName } from '../../storage/wal/wal-segments.js';
import { storedLogOf } from '../../storage/stored-log.js';
import { openCrashEngine } from './crash-engines.js';
import type { CrashEngineName } from './crash-engines.js';
import { CRASH_WORKLOAD_MODES, CrashWorkload } from './crash-workload.js';
import type { CrashWorkloadMode } from './crash-workload.js';
import { makeTempDir, removeDir } from './helpers.js';
import { scaledMs } from '../timing.js';

const INFLIGHT = 8;
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

interface RoundResult {
  readonly acked: number;
  readonly errors: readonly string[];
}

/** Runs the child until READY, lets it write for `runMs`, kills it and collects its acks. */
function runChild(
  engineName: CrashEngineName,
  dir: string,
  seed: number,
  runMs: number,
  mode: CrashWorkloadMode,
): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, dir, String(seed), String(INFLIGHT), mode, engineName],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buffered = '';
    let acked = 0;
    const errors: string[] = [];
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'READY') timer = setTimeout(() => child.kill('SIGKILL'), runMs);
        else if (line.startsWith('A ')) {
          const n = Number(line.slice(2));
          if (n !== acked) errors.push(`ack ${n} after ${acked - 1}`);
          acked = n + 1;
        } else errors.push(line);
      }
    });
    child.on('error', reject);
    // 'close' fires after the process was reaped and its stdout fully read.
    child.on('close', (code, signal) => {
      if (timer !== null) clearTimeout(timer);
      if (signal !== 'SIGKILL')
        errors.push(`child ended with code ${String(code)} signal ${String(signal)}: ${stderr.trim()}`);
      resolve({ acked, errors });
    });
  });
}

function sameState(actual: PersistedState, workload: CrashWorkload): boolean {
  const disk = workload.disk;
  return isDeepStrictEqual(actual, { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries });
}

/** Registers the crash property for one engine, with `rounds` kills per workload mode (a mode not given is not run). */
export function crashProperty(
  engineName: CrashEngineName,
  rounds: Readonly<Partial<Record<CrashWorkloadMode, number>>>,
  runMsMax = 200,
): void {
  describe(`${engineName} engine under SIGKILL (Property 9)`, function () {
    this.timeout(scaledMs(300_000));
    let dir: string;

    beforeEach(() => {
      dir = makeTempDir();
    });

    afterEach(() => {
      removeDir(dir);
    });

    for (const [mode, modeRounds] of CRASH_WORKLOAD_MODES.map((m) => [m, rounds[m] ?? 0] as const)) {
      if (modeRounds === 0) continue;
      it(`keeps every acknowledged write across ${modeRounds} kills (${mode} workload)`, async () => {
        const seed = Number(process.env['CRASH_SEED'] ?? 20_251_126);
        const prng = new SeededPrng(seed);
        let verified: PersistedState = { hardState: { currentTerm: 0, votedFor: null }, snapshot: null, entries: [] };
        let totalAcked = 0;
        let unackedSurvivors = 0;
        // A loaded machine acknowledges little before a kill; extra rounds (at most 3x more,
        // same seeded kill moments) keep the property from passing on too few writes.
        const enoughAcked = modeRounds * 3;
        let round = 0;
        for (; round < modeRounds || (totalAcked <= enoughAcked && round < 4 * modeRounds); round += 1) {
          const roundSeed = prng.nextUint32();
          const runMs = prng.intBetween(0, runMsMax);
          const { acked, errors } = await runChild(engineName, dir, roundSeed, runMs, mode);
          const context =
            `SEED=${seed} ${engineName} ${mode} round ${round} (seed ${roundSeed}, killed ` +
            `after ${runMs} ms, ${acked} acknowledged)`;
          assert.deepEqual(errors, [], context);
          const engine = await openCrashEngine(engineName, dir);
          let recovered: PersistedState;
          try {
            recovered = await engine.load();
            // A restart reads the log's shape and the snapshot's header only, then the image in place (issue 17):
            // they must be the recovered log's and snapshot's.
            const { hardState, snapshot } = recovered;
            const log = storedLogOf(recovered.entries, snapshot, 'expected');
            const header = snapshot === null ? null : snapshotHeaderOf(snapshot);
            const shape = await engine.loadShape();
            assert.deepStrictEqual(shape, { hardState, snapshot: header, log }, `${context}: loadShape`);
            if (snapshot !== null) {
              const inPlace = new Uint8Array(snapshot.data.byteLength);
              engine.storedImage(snapshot.lastIncludedIndex)?.copyTo(0, inPlace);
              assert.deepStrictEqual(inPlace, snapshot.data, `${context}: the image read in place`);
            }
          } finally {
            await engine.close();
          }
          const workload = new CrashWorkload(verified, roundSeed, mode);
          for (let k = 0; k < acked; k += 1) workload.next();
          let extra = 0;
          while (!sameState(recovered, workload)) {
            assert.ok(
              extra < INFLIGHT,
              `${context}: the recovered state matches no prefix of ${acked} to ${acked + INFLIGHT} batches`,
            );
            workload.next();
            extra += 1;
          }
          totalAcked += acked;
          unackedSurvivors += extra;
          verified = recovered;
        }
        assert.ok(totalAcked > enoughAcked, `only ${totalAcked} writes were acknowledged in ${round} rounds`);
        const segments = Math.max(0, ...readdirSync(dir).map((name) => parseSegmentName(name) ?? 0));
        console.log(
          `      SEED=${seed} ${engineName} ${mode}: ${totalAcked} acknowledged writes over ${round} ` +
            `kills, ${unackedSurvivors} unacknowledged survived` +
            (segments > 0 ? `, last log segment ${segments}` : ''),
        );
      });
    }
  });
}
