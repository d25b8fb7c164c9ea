/**
 * The plan of a simulator sweep (`npm run sweep`): which seeds run on how many nodes with which
 * arguments, and the command that replays each one. Pure, so that the plan is tested apart from
 * the process pool that runs it (sweep.ts).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { FAULT_KINDS } from '../../agent/sim/fault-kinds.js';

/** The faults every sweep run injects (every kind the issue names, all at once). */
export const SWEEP_FAULTS = 'partition,loss,reorder,duplicate,crash';
/** The snapshot threshold of every sweep run: small, so that snapshots are taken and sent often. */
export const SWEEP_SNAPSHOT_BYTES = 2048;
/** Seeds of the CI-sized sweep. */
export const SEEDS_DEFAULT = 200;
/** Seeds of the long sweep (`--long`). */
export const SEEDS_LONG = 3000;
/** Wall-clock budget of one run before the sweep calls it hung, ms. */
export const RUN_TIMEOUT_MS_DEFAULT = 300_000;
/** Most workers, whatever the machine. */
const JOBS_MAX = 64;

/** The sizes a sweep cycles through by default: three sizes of full members, and two members with a witness. */
export const SIZES_DEFAULT = '3,5,7,2+1';

/** A cluster of `nodes` full members and `witnesses` witnesses beyond them (`--nodes 2+1`). */
export interface ClusterSize {
  readonly nodes: number;
  readonly witnesses: number;
}

/** How every run of a sweep is made beyond its seed and size. */
export interface RunOptions {
  /** The --faults list of every run; absent: {@link SWEEP_FAULTS}. */
  readonly faults?: string;
  /** Whether runs change membership (--membership); absent: true. */
  readonly membership?: boolean;
  /** The simulated faulty period of every run (--duration-ms), ms; absent: the CLI's default. */
  readonly durationMs?: number;
  /** Concurrent clients of every run (--clients); absent: the CLI's default. */
  readonly clients?: number;
  /** Lease clients of every run (--leases); absent: the CLI's default. */
  readonly leases?: number;
}

/** What to sweep. */
export interface SweepPlan extends RunOptions {
  /** First seed. */
  readonly from: number;
  /** How many seeds; seed s runs on the size `nodes[s % nodes.length]` (a count of full members, or a ClusterSize). */
  readonly seeds: number;
  readonly nodes: readonly (number | ClusterSize)[];
  /** Worker processes running seeds in parallel. */
  readonly jobs: number;
  /** Wall-clock budget of one run, ms. */
  readonly runTimeoutMs: number;
}

/** One run of the sweep: its seed, its size and the exact `coraft sim` arguments. */
export interface SweepRun {
  readonly seed: number;
  readonly nodes: number;
  /** Witnesses beyond the `nodes` full members; absent: none. */
  readonly witnesses?: number;
  readonly args: readonly string[];
}

/** Parses one size of --nodes: `N` full members, or `N+W` with W witnesses. */
function parseSize(text: string): number | ClusterSize {
  const [members, witnesses] = text.split('+');
  const nodes = integer(members?.trim(), 'nodes', 0, 1, 9);
  if (witnesses === undefined) return nodes;
  return { nodes, witnesses: integer(witnesses.trim(), 'nodes (witnesses after +)', 0, 1, 4) };
}

/** A size as --nodes writes it. */
export function sizeText(size: number | ClusterSize): string {
  return typeof size === 'number' ? String(size) : `${size.nodes}+${size.witnesses}`;
}

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new Error(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** Parses --faults: a comma-separated list of known kinds, in the CLI's spelling. */
function parseFaults(text: string | undefined): string {
  if (text === undefined) return SWEEP_FAULTS;
  const kinds = text.split(',').map((kind) => kind.trim());
  for (const kind of kinds)
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw new Error(`--faults: unknown fault ${JSON.stringify(kind)}; expected some of ${FAULT_KINDS.join(',')}`);
  return kinds.join(',');
}

/** The sweep's command line, which {@link parseSweepArgs} reads (printed for --help and on a bad option). */
export const SWEEP_USAGE =
  'usage: npm run sweep -- [--seeds N] [--nodes 3,5,7,2+1] [--from S] [--long] [--jobs J] [--run-timeout-ms T]\n' +
  '                        [--faults LIST] [--no-membership] [--duration-ms T] [--clients C]';

/**
 * Parses the options of {@link SWEEP_USAGE}; a size `N+W` runs N full members and W
 * witnesses; --faults replaces {@link SWEEP_FAULTS} (e.g. with clog and byzantine added); --no-membership runs
 * without membership changes; --duration-ms and --clients are passed to every run (longer, busier runs).
 */
export function parseSweepArgs(argv: readonly string[]): SweepPlan {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seeds: { type: 'string' },
      nodes: { type: 'string' },
      from: { type: 'string' },
      long: { type: 'boolean' },
      jobs: { type: 'string' },
      'run-timeout-ms': { type: 'string' },
      faults: { type: 'string' },
      'no-membership': { type: 'boolean' },
      'duration-ms': { type: 'string' },
      clients: { type: 'string' },
    },
    strict: true,
  });
  const nodes = (values.nodes ?? SIZES_DEFAULT).split(',').map((text) => parseSize(text.trim()));
  return {
    from: integer(values.from, 'from', 1, 0, 2 ** 32 - 1),
    seeds: integer(values.seeds, 'seeds', values.long === true ? SEEDS_LONG : SEEDS_DEFAULT, 1, 10_000_000),
    nodes,
    jobs: integer(values.jobs, 'jobs', Math.min(JOBS_MAX, availableParallelism()), 1, JOBS_MAX),
    runTimeoutMs: integer(values['run-timeout-ms'], 'run-timeout-ms', RUN_TIMEOUT_MS_DEFAULT, 1000, 86_400_000),
    faults: parseFaults(values.faults),
    membership: values['no-membership'] !== true,
    ...(values['duration-ms'] === undefined
      ? {}
      : { durationMs: integer(values['duration-ms'], 'duration-ms', 0, 0, 86_400_000) }),
    ...(values.clients === undefined ? {} : { clients: integer(values.clients, 'clients', 0, 0, 1000) }),
  };
}

/** The `coraft sim` arguments of one seed (`--witnesses` only when there are some). */
export function simArgs(seed: number, nodes: number, witnesses = 0, options: RunOptions = {}): string[] {
  return [
    '--seed',
    String(seed),
    '--nodes',
    String(nodes),
    ...(witnesses > 0 ? ['--witnesses', String(witnesses)] : []),
    ...(options.durationMs === undefined ? [] : ['--duration-ms', String(options.durationMs)]),
    ...(options.clients === undefined ? [] : ['--clients', String(options.clients)]),
    ...(options.leases === undefined ? [] : ['--leases', String(options.leases)]),
    ...(options.membership === false ? [] : ['--membership']),
    '--snapshot-bytes',
    String(SWEEP_SNAPSHOT_BYTES),
    '--faults',
    options.faults ?? SWEEP_FAULTS,
  ];
}

/** Every run of the plan, in seed order; seeds past 2^32 - 1 (the CLI's limit) are not planned. */
export function sweepRuns(plan: SweepPlan): SweepRun[] {
  const runs: SweepRun[] = [];
  const last = Math.min(plan.from + plan.seeds - 1, 2 ** 32 - 1);
  for (let seed = plan.from; seed <= last; seed += 1) {
    const size = plan.nodes[seed % plan.nodes.length] ?? 5;
    if (typeof size === 'number') runs.push({ seed, nodes: size, args: simArgs(seed, size, 0, plan) });
    else runs.push({ ...size, seed, args: simArgs(seed, size.nodes, size.witnesses, plan) });
  }
  return runs;
}

/** The shell command that replays one run (the CLI runs dist/: `npm run build` first). */
export function replayCommand(run: SweepRun): string {
  return `node bin/coraft.js sim ${run.args.join(' ')}`;
}
