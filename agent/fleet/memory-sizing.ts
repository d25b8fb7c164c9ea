/**
 * How an agent's memory is bounded on a gateway (issue 17): the systemd unit's MemoryMax (the
 * kill line), MemoryHigh (where the kernel starts reclaiming and throttling, below MemoryMax)
 * and the Node flags that keep V8 under MemoryHigh: a small young generation
 * (--max-semi-space-size) and an old-generation bound (--max-old-space-size). The shipped unit
 * (systemd/coraft.service) and every drop-in `coraft provision` writes follow this one rule, so
 * MemoryHigh is always below MemoryMax and the V8 heap always fits under MemoryHigh;
 * test/deploy/systemd.test.ts checks the unit against it.
 */
import { ConfigError } from '../../contracts/errors.js';

const MIB = 1024 * 1024;

/**
 * Semi-space of V8's young generation, MiB: scavenges stay short and the young generation small
 * (V8's default grows to 16).
 */
export const SEMI_SPACE_MIB = 1;
/**
 * What an agent holds outside the V8 old generation, MiB: the node binary's and native modules'
 * resident pages (about 45 MiB), compiled code, the young generation, buffers outside the heap
 * and LMDB's pages in the page cache the unit is charged for.
 */
export const OUTSIDE_OLD_SPACE_MIB = 64;
/** The smallest old-generation bound worth running with, MiB (an idle agent's heap is about 15 MiB). */
export const OLD_SPACE_MIN_MIB = 32;
/** The MemoryMax of the shipped unit, MiB: a 256 MB gateway, leaving 64 MiB to the system. */
export const UNIT_MEMORY_MAX_MIB = 192;

/** The memory settings of one agent's unit. */
export interface MemorySizing {
  readonly memoryMaxMiB: number;
  /** Five sixths of MemoryMax: reclaim starts with a sixth of headroom left before the OOM kill. */
  readonly memoryHighMiB: number;
  /** MemoryHigh minus OUTSIDE_OLD_SPACE_MIB. */
  readonly maxOldSpaceMiB: number;
  readonly maxSemiSpaceMiB: number;
}

/** The sizing for a unit whose MemoryMax is `memoryMaxMiB`; a ConfigError when that leaves too small a heap. */
export function sizeForMemoryMax(memoryMaxMiB: number): MemorySizing {
  const memoryHighMiB = Math.floor((memoryMaxMiB * 5) / 6);
  const maxOldSpaceMiB = memoryHighMiB - OUTSIDE_OLD_SPACE_MIB;
  if (!Number.isInteger(memoryMaxMiB) || maxOldSpaceMiB < OLD_SPACE_MIN_MIB) {
    const least = Math.ceil(((OLD_SPACE_MIN_MIB + OUTSIDE_OLD_SPACE_MIB) * 6) / 5);
    throw new ConfigError([`memoryMax: at least ${least}M (got ${memoryMaxMiB}M)`]);
  }
  return { memoryMaxMiB, memoryHighMiB, maxOldSpaceMiB, maxSemiSpaceMiB: SEMI_SPACE_MIB };
}

/** The Node flags of a sizing (the unit passes them in NODE_OPTIONS). */
export function nodeFlagsOf(sizing: MemorySizing): readonly string[] {
  return [`--max-semi-space-size=${sizing.maxSemiSpaceMiB}`, `--max-old-space-size=${sizing.maxOldSpaceMiB}`];
}

/** The Node flags of the shipped unit: what the demo, the benches and the tests run agents with too. */
export const UNIT_NODE_FLAGS: readonly string[] = nodeFlagsOf(sizeForMemoryMax(UNIT_MEMORY_MAX_MIB));

/** MALLOC_ARENA_MAX of the shipped unit: two glibc malloc arenas, not one per thread. */
export const UNIT_MALLOC_ARENA_MAX = '2';

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
