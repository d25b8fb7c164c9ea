// fast-check parameters shared by every property test: a fixed number of runs; a seed pinned
// per property when the test names it (so that its run is deterministic), else a fresh one;
// and the replay of a failure through FC_SEED and FC_PATH. A failure reports the seed, the
// path and the (shrunk) counterexample, and says how to replay them.
import type * as fc from 'fast-check';
import { describeError } from '../contracts/errors.js';

/** A stable 31-bit seed derived from a property's name. */
function seedOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i += 1) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return hash & 0x7fffffff;
}

/**
 * Parameters for `fc.assert`: `numRuns` runs; the seed is FC_SEED when set, else pinned by
 * `name` when given, else fast-check's own; FC_PATH replays one failing path.
 */
export function fcParams<T>(numRuns = 300, name?: string): fc.Parameters<T> {
  const fromEnv = process.env['FC_SEED'];
  const seed = fromEnv !== undefined ? Number(fromEnv) : name === undefined ? undefined : seedOf(name);
  const path = process.env['FC_PATH'];
  return {
    numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path, endOnFailure: true }),
    reporter: (details) => {
      if (details.failed) {
        throw new Error(
          `${fcReport(details)}\nreplay: FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''}`,
        );
      }
    },
  };
}

function printable(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return typeof value === 'bigint' ? `${value}n` : value;
}

function fcReport<T>(details: fc.RunDetails<T>): string {
  const counterexample = JSON.stringify(details.counterexample, printable)?.slice(0, 2000);
  return (
    `property failed after ${details.numRuns} runs (seed ${details.seed}, ` +
    `path ${details.counterexamplePath ?? ''}):\n` +
    `counterexample: ${counterexample}\n${describeError(details.errorInstance)}`
  );
}
