// fast-check parameters shared by the property tests of agent/kv and agent/sim: a pinned seed
// per property (so that a run is deterministic), overridable with FC_SEED and FC_PATH to replay
// a failure. fast-check's own failure message prints the seed and path; the hint says how to
// replay them.
import type * as fc from 'fast-check';

/** A stable 31-bit seed derived from a property's name. */
function seedOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i += 1) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return hash & 0x7fffffff;
}

/** Parameters for `fc.assert`: pinned seed (or FC_SEED), FC_PATH when replaying, `numRuns` runs. */
export function fcParams<T>(name: string, numRuns: number): fc.Parameters<T> {
  const seed = process.env['FC_SEED'] === undefined ? seedOf(name) : Number(process.env['FC_SEED']);
  const path = process.env['FC_PATH'];
  return {
    seed,
    numRuns,
    ...(path === undefined ? {} : { path, endOnFailure: true }),
    reporter: (details) => {
      if (details.failed) {
        throw new Error(`${fcReport(details)}\nreplay: FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''}`);
      }
    },
  };
}

function fcReport<T>(details: fc.RunDetails<T>): string {
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return `property failed after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath ?? ''}):\n` +
    `counterexample: ${JSON.stringify(details.counterexample, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))?.slice(0, 2000)}\n${error}`;
}
