/**
 * A worker process of the simulator sweep (sweep.ts forks it): once loaded it says `ready`,
 * then it runs the seeds the parent sends, one at a time, through the same argument parsing and
 * run function as `coraft sim`, and answers each with its outcome. A run that throws, or whose
 * code throws where nothing catches it, is a failure of that seed (reported, then the worker
 * exits and the parent starts another).
 */
import { parseSimArgs } from '../../agent/cli/sim.js';
import { runSimulation } from '../../agent/sim/run.js';
import { describeError } from '../../contracts/errors.js';

/** What the parent sends: one run. */
export interface SweepRequest {
  readonly seed: number;
  readonly args: readonly string[];
}

/** What the worker answers for one run. */
export interface SweepOutcome {
  readonly seed: number;
  readonly ok: boolean;
  /** Safety, liveness or linearizability violations the run found. */
  readonly violations: readonly string[];
  /** An exception that ended the run (an abort), with its stack, or null. */
  readonly error: string | null;
  readonly elections: number;
  readonly opsOk: number;
}

/** Runs one sweep request in this process; never throws (an exception is the outcome). */
export async function runSweepRequest(request: SweepRequest): Promise<SweepOutcome> {
  try {
    const command = parseSimArgs(request.args);
    const summary = await runSimulation(command.run);
    return {
      seed: request.seed,
      ok: summary.ok,
      violations: summary.violations,
      error: null,
      elections: summary.elections,
      opsOk: summary.ops.ok,
    };
  } catch (error) {
    return {
      seed: request.seed,
      ok: false,
      violations: [],
      error: describeError(error, { stack: true }),
      elections: 0,
      opsOk: 0,
    };
  }
}

function isRequest(value: unknown): value is SweepRequest {
  if (typeof value !== 'object' || value === null) return false;
  const seed: unknown = Reflect.get(value, 'seed');
  const args: unknown = Reflect.get(value, 'args');
  return typeof seed === 'number' && Array.isArray(args) && args.every((a) => typeof a === 'string');
}

if (process.send !== undefined) {
  let current: SweepRequest | null = null;
  const fail = (error: unknown): void => {
    const seed = current?.seed ?? -1;
    process.send?.(
      {
        seed,
        ok: false,
        violations: [],
        error: `uncaught: ${describeError(error, { stack: true })}`,
        elections: 0,
        opsOk: 0,
      } satisfies SweepOutcome,
      () => process.exit(1),
    );
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('message', (message: unknown) => {
    if (!isRequest(message)) return;
    current = message;
    void runSweepRequest(message).then((outcome) => {
      current = null;
      process.send?.(outcome);
    });
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
