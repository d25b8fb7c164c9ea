// fast-check parameters shared by every property test: a fixed number of runs, and replay of
// a failure through FC_SEED and FC_PATH (fast-check prints both when a property fails).
import type { Parameters } from 'fast-check';

/** Parameters for fc.assert: `numRuns` runs, or the replay FC_SEED/FC_PATH name. */
export function fcParams<T>(numRuns = 300): Parameters<T> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  const params: Parameters<T> = { numRuns, verbose: 1 };
  if (seed !== undefined) return { ...params, seed: Number(seed), ...(path === undefined ? {} : { path }) };
  return params;
}
