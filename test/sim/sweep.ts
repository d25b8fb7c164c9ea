/**
 * `npm run sweep -- [--seeds N] [--nodes 3,5,7,2+1] [--from S] [--long] [--jobs J] [--faults LIST] [--no-membership]
 * [--duration-ms T] [--clients C]`:
 * runs `coraft sim --membership --snapshot-bytes 2048 --faults partition,loss,reorder,duplicate,crash` (or the
 * --faults given, e.g. with clog and byzantine added, and without --membership under --no-membership)
 * over many seeds (seed s on the size nodes[s % 4]; 2+1 is two members and a witness) in a pool of
 * worker processes, one per core.
 * Prints every failing seed with the exact command that replays it, then a summary (seeds run,
 * failures, time), and exits 1 on any failure. The default (200 seeds) is CI-sized; --long runs
 * 3,000.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SWEEP_FAULTS, SWEEP_USAGE, parseSweepArgs, replayCommand, sizeText, sweepRuns } from './sweep-plan.js';
import type { SweepPlan, SweepRun } from './sweep-plan.js';
import type { SweepOutcome } from './sweep-worker.js';
import { describeError } from '../../contracts/errors.js';

const WORKER = fileURLToPath(new URL('./sweep-worker.ts', import.meta.url));
/** How many progress lines a sweep prints at most. */
const PROGRESS_LINES = 10;

interface Failure {
  readonly run: SweepRun;
  readonly reason: string;
}

function isOutcome(value: unknown): value is SweepOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof Reflect.get(value, 'seed') === 'number' &&
    typeof Reflect.get(value, 'ok') === 'boolean'
  );
}

function isReady(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Reflect.get(value, 'ready') === true;
}

function reasonOf(outcome: SweepOutcome): string {
  if (outcome.error !== null) return `aborted: ${outcome.error}`;
  return outcome.violations.join('\n    ');
}

/** Runs every planned run on `plan.jobs` workers; resolves with the failures, in seed order. */
async function runPool(
  plan: SweepPlan,
  runs: readonly SweepRun[],
  workerPath: string,
  onFailure: (failure: Failure) => void,
  onDone: (done: number) => void,
): Promise<Failure[]> {
  const failures: Failure[] = [];
  let next = 0;
  let done = 0;
  const record = (run: SweepRun, reason: string | null): void => {
    done += 1;
    if (reason !== null) {
      const failure = { run, reason };
      failures.push(failure);
      onFailure(failure);
    }
    onDone(done);
  };
  const worker = (): Promise<void> =>
    new Promise((resolve) => {
      let child: ChildProcess | null = null;
      let current: SweepRun | null = null;
      let timer: NodeJS.Timeout | null = null;
      const dispatch = (): void => {
        const run = runs[next];
        if (run === undefined) {
          child?.disconnect();
          resolve();
          return;
        }
        next += 1;
        current = run;
        // A new worker gets its run once it has loaded (its 'ready'), so that the budget of a
        // run does not include the start of a process.
        if (child === null) child = spawnWorker();
        else send(child, run);
      };
      const send = (to: ChildProcess, run: SweepRun): void => {
        timer = setTimeout(() => {
          to.kill('SIGKILL');
        }, plan.runTimeoutMs);
        to.send({ seed: run.seed, args: run.args });
      };
      const spawnWorker = (): ChildProcess => {
        const spawned = fork(workerPath, [], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        spawned.on('message', (message: unknown) => {
          if (isReady(message)) {
            if (current !== null) send(spawned, current);
            return;
          }
          if (!isOutcome(message) || current === null || message.seed !== current.seed) return;
          if (timer !== null) clearTimeout(timer);
          const run = current;
          current = null;
          record(run, message.ok ? null : reasonOf(message));
          // The worker exits; 'exit' dispatches.
          if (message.error !== null && message.error.startsWith('uncaught:')) return;
          dispatch();
        });
        spawned.on('exit', (code, signal) => {
          if (timer !== null) clearTimeout(timer);
          child = null;
          if (current !== null) {
            const reason =
              signal === 'SIGKILL'
                ? `no result within ${plan.runTimeoutMs} ms (hung)`
                : `worker exited (code ${String(code)}, signal ${String(signal)})`;
            const run = current;
            current = null;
            record(run, reason);
          }
          if (next < runs.length) dispatch();
          else resolve();
        });
        return spawned;
      };
      dispatch();
    });
  await Promise.all(Array.from({ length: Math.min(plan.jobs, runs.length) }, () => worker()));
  return failures.sort((a, b) => a.run.seed - b.run.seed);
}

/** ` + W witnesses` for a run with witnesses, nothing otherwise. */
function witnessesNote(run: SweepRun): string {
  return run.witnesses === undefined ? '' : ` + ${run.witnesses} witnesses`;
}

/** Where a sweep writes and which worker it forks (a test gives a fake one). */
export interface SweepIo {
  readonly write: (text: string) => void;
  readonly workerPath?: string;
}

/** Runs the plan; returns the exit code (0: every seed passed, 1: some failed). */
export async function runSweep(plan: SweepPlan, io: SweepIo): Promise<number> {
  const runs = sweepRuns(plan);
  const started = Date.now();
  const seconds = (): string => ((Date.now() - started) / 1000).toFixed(1);
  const first = runs[0]?.seed ?? plan.from;
  const last = runs[runs.length - 1]?.seed ?? plan.from;
  const sizes = plan.nodes.map(sizeText).join(',');
  const mix =
    `faults ${plan.faults ?? SWEEP_FAULTS}${plan.membership === false ? ', no membership changes' : ''}` +
    `${plan.durationMs === undefined ? '' : `, ${plan.durationMs} ms`}` +
    `${plan.clients === undefined ? '' : `, ${plan.clients} clients`}`;
  io.write(`sweep: seeds ${first}..${last} (${runs.length}) on ${sizes} nodes, ${mix}, ${plan.jobs} workers\n`);
  const every = Math.max(1, Math.ceil(runs.length / PROGRESS_LINES));
  let failed = 0;
  const failures = await runPool(
    plan,
    runs,
    io.workerPath ?? WORKER,
    (failure) => {
      failed += 1;
      io.write(
        `FAIL SEED=${failure.run.seed} (${failure.run.nodes} nodes${witnessesNote(failure.run)}): ` +
          `${failure.reason}\n  ` +
          `replay: ${replayCommand(failure.run)}\n`,
      );
    },
    (done) => {
      if (done % every === 0 || done === runs.length)
        io.write(`  ${done}/${runs.length} runs, ${failed} failed, ${seconds()} s\n`);
    },
  );
  io.write(`sweep: ${runs.length} seeds run, ${failures.length} failed, ${seconds()} s\n`);
  for (const failure of failures) io.write(`  failed: ${replayCommand(failure.run)}\n`);
  if (failures.length > 0) io.write('  (the replay commands run dist/: npm run build first)\n');
  return failures.length === 0 ? 0 : 1;
}

/** The plan of `argv`, or the exit code after printing the usage (--help: 0) or what is wrong with it (2). */
function planOrExit(argv: readonly string[]): SweepPlan | number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${SWEEP_USAGE}\n`);
    return 0;
  }
  try {
    return parseSweepArgs(argv);
  } catch (error) {
    process.stderr.write(`sweep: ${describeError(error)}\n${SWEEP_USAGE}\n`);
    return 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const plan = planOrExit(process.argv.slice(2));
  if (typeof plan === 'number') process.exitCode = plan;
  else
    runSweep(plan, { write: (text) => process.stdout.write(text) }).then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        process.stderr.write(`sweep failed to run: ${describeError(error, { stack: true })}\n`);
        process.exitCode = 2;
      },
    );
}
