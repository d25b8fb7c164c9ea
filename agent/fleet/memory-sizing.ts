/**
 * How an agent's memory is bounded on a gateway (issue 17): the systemd unit's MemoryMax (the
 * kill line), MemoryHigh (where the kernel starts reclaiming and throttling, below MemoryMax)
 * and the Node flags that keep V8 under MemoryHigh: a young generation sized to MemoryMax
 * (--max-semi-space-size) and an old-generation bound (--max-old-space-size). The shipped unit
 * (systemd/coraft.service) and every drop-in `coraft provision` writes follow this one rule, so
 * MemoryHigh is always below MemoryMax and the V8 heap always fits under MemoryHigh;
 * test/deploy/systemd.test.ts checks the unit against it. The same NODE_OPTIONS carry one flag
 * that is about threads, not memory (V8_POOL_FLAG), so that a drop-in, which replaces the whole
 * variable, keeps it.
 */
import { ConfigError } from '../../contracts/errors.js';

const MIB = 1024 * 1024;

/**
 * MemoryMax per MiB of semi-space in V8's young generation: a semi-space of MemoryMax / 48, so
 * the young generation (three semi-spaces: two and the new large-object space) is a sixteenth
 * of MemoryMax. A write's objects live until it commits (tens of ms under load); with 1 MiB
 * semi-spaces a scavenge came every few ms and promoted them to the old generation, so
 * mark-compacts ran every half second and GC took a quarter of a loaded leader's CPU. 4 MiB
 * cut the CPU per write by about a tenth (vs-etcd bench, 64 clients) for about 4 MiB more
 * resident memory. Measured again under 64 clients (ab-coraft --b-node-args, alternating
 * slices): 2 MiB semi-spaces lowered a loaded leader's peak RssAnon by 5-9 MiB at 4 KiB values
 * (99.9 -> 90.7 MiB) but took 1%, 16% and 7% fewer writes/s for 4.7%, 12.7% and 4.4% more CPU
 * per write at 256 B; 1 MiB 18% fewer writes/s; --optimize-for-size a 75 MiB leader for 25-35%
 * more CPU per write; --heap-growing-percent=20 and a lower MALLOC_MMAP_THRESHOLD_ moved the
 * peak by 2 MiB or less. So the rule stays at a 48th. --min-semi-space-size=4 (the young
 * generation at its most from the start; a loaded leader otherwise scavenged every 25 ms at
 * times) gave followers 55% fewer scavenges at 64 x 4 KiB but the three agents 24% more
 * mark-compacts and no lower p99 (ab-coraft --b-node-args, 10 slices, loaded machine): not adopted.
 */
export const MEMORY_MAX_PER_SEMI_SPACE_MIB = 48;
/** Least and most semi-space, MiB (V8's own default grows to 16). */
export const SEMI_SPACE_MIN_MIB = 1;
export const SEMI_SPACE_MAX_MIB = 8;
/**
 * What an agent holds outside the V8 heap, MiB: the node binary's and native modules' resident
 * pages (about 45 MiB), compiled code, buffers outside the heap and LMDB's pages in the page
 * cache the unit is charged for. The young generation (three semi-spaces) comes on top.
 */
export const OUTSIDE_HEAP_MIB = 61;
/** The smallest old-generation bound worth running with, MiB (an idle agent's heap is about 15 MiB). */
export const OLD_SPACE_MIN_MIB = 32;
/** The MemoryMax of the shipped unit, MiB: a 256 MB gateway, leaving 64 MiB to the system. */
export const UNIT_MEMORY_MAX_MIB = 192;

/** The memory settings of one agent's unit. */
export interface MemorySizing {
  readonly memoryMaxMiB: number;
  /** Five sixths of MemoryMax: reclaim starts with a sixth of headroom left before the OOM kill. */
  readonly memoryHighMiB: number;
  /** MemoryHigh minus OUTSIDE_HEAP_MIB and the young generation (three semi-spaces). */
  readonly maxOldSpaceMiB: number;
  /** MemoryMax / MEMORY_MAX_PER_SEMI_SPACE_MIB, within SEMI_SPACE_MIN_MIB..SEMI_SPACE_MAX_MIB. */
  readonly maxSemiSpaceMiB: number;
}

/** The sizing of a MemoryMax, whatever its old generation comes to. */
function sizing(memoryMaxMiB: number): MemorySizing {
  const memoryHighMiB = Math.floor((memoryMaxMiB * 5) / 6);
  const perRule = Math.floor(memoryMaxMiB / MEMORY_MAX_PER_SEMI_SPACE_MIB);
  const maxSemiSpaceMiB = Math.min(SEMI_SPACE_MAX_MIB, Math.max(SEMI_SPACE_MIN_MIB, perRule));
  const maxOldSpaceMiB = memoryHighMiB - OUTSIDE_HEAP_MIB - 3 * maxSemiSpaceMiB;
  return { memoryMaxMiB, memoryHighMiB, maxOldSpaceMiB, maxSemiSpaceMiB };
}

/** The smallest MemoryMax whose old generation is at least OLD_SPACE_MIN_MIB, MiB. */
function leastMemoryMaxMiB(): number {
  let least = OLD_SPACE_MIN_MIB + OUTSIDE_HEAP_MIB;
  // Bounded: the old generation grows with MemoryMax, so this ends within a few hundred steps.
  while (sizing(least).maxOldSpaceMiB < OLD_SPACE_MIN_MIB) least += 1;
  return least;
}

/** The sizing for a unit whose MemoryMax is `memoryMaxMiB`; a ConfigError when that leaves too small a heap. */
export function sizeForMemoryMax(memoryMaxMiB: number): MemorySizing {
  const result = sizing(memoryMaxMiB);
  if (!Number.isInteger(memoryMaxMiB) || result.maxOldSpaceMiB < OLD_SPACE_MIN_MIB)
    throw new ConfigError([`memoryMax: at least ${leastMemoryMaxMiB()}M (got ${memoryMaxMiB}M)`]);
  return result;
}

/**
 * V8's worker threads (its garbage collector's helpers): as many as the gateway has cores less
 * one, at least one (`--v8-pool-size=0`: Node counts the cores the process may run on), instead of
 * Node's four whatever the cores. With four on two cores the helpers of a parallel scavenge or of
 * concurrent marking outnumber the cores and the agent's own thread waits behind them. Measured
 * on two cores, three agents side by side (`npm run bench -- ab-coraft --a=<this build>
 * --b-node-args=--v8-pool-size=0`, then the flag on the A side; 12-16 slices of 3-4 s): p99 -19 %
 * and -14 % at 16 clients x 256 B, -11 % and -16 % at 64 x 256 B, -10 % and -9 % at 64 x 4 KiB,
 * -8 % and -11 % at 1 x 4 KiB, -2 % and -1 % at 1 x 256 B, -4 % at 256 x 64 KiB; p99.9 -7 to
 * -35 % in 10 runs of 11 (+0.5 % in one at 64 x 4 KiB); writes/s and CPU per write within 4 %
 * (+6 % and -5 % once, at 1 x 4 KiB), peak RssAnon within 2 MiB; idle RSS the same (footprint
 * bench, two runs each way). A Node option (not a V8 flag), so NODE_OPTIONS takes it.
 */
export const V8_POOL_FLAG = '--v8-pool-size=0';

/**
 * The Node flags of a sizing, with V8_POOL_FLAG: the unit passes them in NODE_OPTIONS, so each
 * must be one Node accepts there (a test starts Node with the unit's and a drop-in's NODE_OPTIONS).
 */
export function nodeFlagsOf(sizing: MemorySizing): readonly string[] {
  return [
    `--max-semi-space-size=${sizing.maxSemiSpaceMiB}`,
    `--max-old-space-size=${sizing.maxOldSpaceMiB}`,
    V8_POOL_FLAG,
  ];
}

/** The Node flags of the shipped unit: what the demo, the benches and the tests run agents with too. */
export const UNIT_NODE_FLAGS: readonly string[] = nodeFlagsOf(sizeForMemoryMax(UNIT_MEMORY_MAX_MIB));

/**
 * The glibc malloc settings of the shipped unit (its Environment= lines), which the demo, the
 * benches and the tests give agents too:
 * - MALLOC_ARENA_MAX: two malloc arenas, not one per thread.
 * - MALLOC_MMAP_THRESHOLD_: allocations from 128 KiB up are mapped on their own and unmapped when
 *   freed. Left unset, glibc raises the threshold to the size of each mapped block freed (up to
 *   32 MiB), so after the first snapshot encoding (a transient buffer of several MiB) the next
 *   ones came from the main heap, which can only shrink from its top: a loaded leader's [heap]
 *   grew 9 -> 70 MiB over 90 s of 64-client load with a snapshot every 30 s, 29-36 MiB with the
 *   threshold fixed (issue 17, /proc/PID/smaps). Setting it also fixes the trim threshold at 128 KiB.
 */
export const UNIT_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/**
 * Variables a shell may set that the shipped unit's environment (systemd's, clean but for its
 * Environment= lines) does not have, and that change how Node.js starts an agent:
 * NODE_EXTRA_CA_CERTS has Node.js read and parse a CA bundle before any JavaScript runs (coraft
 * uses no TLS certificates); with the test machine's 200 KB bundle it made an agent's bootstrap
 * about 40 ms longer (performance.nodeTiming.bootstrapComplete 57-77 ms with it, 15-28 ms without).
 */
export const NOT_UNIT_ENV: readonly string[] = ['NODE_EXTRA_CA_CERTS'];

/**
 * The environment an agent gets in the benches, the demo and the tests: `env` without
 * NOT_UNIT_ENV, with the unit's malloc settings (UNIT_MALLOC_ENV) and its Node flags in
 * NODE_OPTIONS, where the unit passes them (so a flag Node refuses there fails every agent a test
 * starts, as it would fail the service), so that their figures are the unit's (issue 17: the
 * agent's own start-up), not those of the shell that ran them.
 */
export function unitEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const unit: NodeJS.ProcessEnv = { ...env, ...UNIT_MALLOC_ENV, NODE_OPTIONS: UNIT_NODE_FLAGS.join(' ') };
  for (const name of NOT_UNIT_ENV) delete unit[name];
  return unit;
}

/** A systemd size (`128M`, `1G`, `524288K`, bytes without a suffix) in MiB, rounded down; a ConfigError otherwise. */
export function parseSizeMiB(text: string, field: string): number {
  const match = /^([0-9]+)([KMG]?)$/.exec(text);
  const digits = match?.[1];
  if (match === null || digits === undefined)
    throw new ConfigError([`${field}: expected a size such as 128M, got ${JSON.stringify(text)}`]);
  const unit = match[2] === 'K' ? 1024 : match[2] === 'M' ? MIB : match[2] === 'G' ? 1024 * MIB : 1;
  return Math.floor((Number(digits) * unit) / MIB);
}

/** The [Service] lines of a drop-in that sets MemoryMax to `memoryMax` (a systemd size). */
export function memoryLinesFor(memoryMax: string): readonly string[] {
  const sizing = sizeForMemoryMax(parseSizeMiB(memoryMax, 'memoryMax'));
  return [
    `MemoryMax=${sizing.memoryMaxMiB}M`,
    `MemoryHigh=${sizing.memoryHighMiB}M`,
    `Environment="NODE_OPTIONS=${nodeFlagsOf(sizing).join(' ')}"`,
  ];
}
