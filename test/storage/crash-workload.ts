// A deterministic stream of valid persist batches for the crash test: appends, truncations
// with a new term, hard-state changes, small snapshots and 1 MiB+ snapshots with compaction.
// It depends only on the state it starts from and its seed, so the child process that writes
// it and the parent that checks the survivors generate exactly the same batches. It keeps its
// own MemoryDisk, the reference model of what the disk holds after each batch.
import type { Snapshot } from '../../contracts/log.js';
import type { PersistBatch, PersistedState } from '../../contracts/persistence.js';
import { SeededPrng } from '../../contracts/prng.js';
import { checkBatch } from '../../storage/log-checks.js';
import { EMPTY_BATCH, MemoryDisk } from '../../storage/memory.js';
import { CONFIGURATION } from './helpers.js';

/** Log length beyond which the workload snapshots and compacts. */
const LOG_LENGTH_MAX = 300;
/** Size of a large snapshot image, bytes: more than 1 MiB. */
export const LARGE_SNAPSHOT_BYTES = 1024 * 1024 + 4096;

/** `bytes` bytes repeating a 251-byte pattern derived from `seed`, as a plain Uint8Array. */
function fill(bytes: number, seed: number): Uint8Array {
  const pattern = Buffer.alloc(251);
  for (let i = 0; i < pattern.length; i += 1) pattern[i] = (seed + i * 31) & 0xff;
  const data = new Uint8Array(bytes);
  if (bytes > 0) data.set(Buffer.alloc(bytes, pattern));
  return data;
}

/** Builds the model disk holding `state`. */
export function diskOf(state: PersistedState): MemoryDisk {
  const disk = new MemoryDisk();
  disk.hardState = state.hardState;
  disk.snapshot = state.snapshot;
  disk.entries = state.entries.slice();
  return disk;
}

/**
 * What the workload writes: `mixed` is the log traffic of a node; `snapshots` replaces a
 * 1 MiB+ snapshot in nearly every batch, so that kills land while one is being written; `large`
 * is `mixed` with most appends of 2-5 KiB entries (a node under 4 KiB values), so that a
 * round fills several 1 MiB log segments and kills land while segments are recycled; `bulk` is
 * `mixed` with most appends of 17-64 entries of 4-4.4 KiB (68-282 KiB, the appends a follower
 * persists under 4 KiB values), so that every frame is larger than a new segment's first 64 KiB
 * step of zeros and a round fills a segment of the agent's default 16 MiB.
 */
export type CrashWorkloadMode = 'mixed' | 'snapshots' | 'large' | 'bulk';

/** Every workload mode. */
export const CRASH_WORKLOAD_MODES: readonly CrashWorkloadMode[] = ['mixed', 'snapshots', 'large', 'bulk'];

/** True when `name` names a workload mode. */
export function isCrashWorkloadMode(name: string | undefined): name is CrashWorkloadMode {
  return CRASH_WORKLOAD_MODES.some((mode) => mode === name);
}

/** The next batches after `state`, from `seed`. */
export class CrashWorkload {
  readonly disk: MemoryDisk;
  private readonly prng: SeededPrng;

  constructor(
    state: PersistedState,
    seed: number,
    private readonly mode: CrashWorkloadMode = 'mixed',
  ) {
    this.disk = diskOf(state);
    this.prng = new SeededPrng(seed);
  }

  /** The next batch; the model disk is updated to the state after it. */
  next(): PersistBatch {
    const batch = this.choose();
    const disk = this.disk;
    checkBatch({ firstIndex: disk.firstIndex(), lastIndex: disk.lastIndex(), lastTerm: disk.lastTerm() }, batch);
    disk.apply(batch);
    return batch;
  }

  private choose(): PersistBatch {
    const disk = this.disk;
    const length = disk.entries.length;
    if (this.mode === 'snapshots') {
      return this.prng.chance(0.8)
        ? this.snapshotBatch(LARGE_SNAPSHOT_BYTES + this.prng.intBetween(0, 4096), true)
        : this.appendBatch(4);
    }
    if (length > LOG_LENGTH_MAX) return this.snapshotBatch(this.prng.chance(0.3) ? LARGE_SNAPSHOT_BYTES : 2000, true);
    if (this.mode === 'large' && this.prng.chance(0.8)) return this.appendBatch(this.prng.intBetween(1, 9), 2000, 5000);
    if (this.mode === 'bulk' && this.prng.chance(0.8))
      return this.appendBatch(this.prng.intBetween(17, 65), 4096, 4500);
    const roll = this.prng.intBetween(0, 100);
    if (roll < 62) return this.appendBatch(this.prng.intBetween(1, 17));
    if (roll < 72 && length > 0) return this.truncateBatch();
    if (roll < 82) {
      const currentTerm = disk.hardState.currentTerm + 1;
      return { ...EMPTY_BATCH, hardState: { currentTerm, votedFor: this.prng.chance(0.5) ? 'n1' : null } };
    }
    if (roll < 88 && length > 0) return this.snapshotBatch(this.prng.intBetween(0, 5000), this.prng.chance(0.5));
    return this.appendBatch(1);
  }

  private term(): number {
    return Math.max(this.disk.hardState.currentTerm, this.disk.lastTerm(), 1);
  }

  private appendBatch(count: number, commandMin = 0, commandMax = 300): PersistBatch {
    const start = this.disk.lastIndex() + 1;
    const term = this.term();
    const entries = Array.from({ length: count }, (_, i) => ({
      index: start + i,
      term,
      type: 'command' as const,
      command: fill(this.prng.intBetween(commandMin, commandMax), start + i),
    }));
    const hardState = this.disk.hardState.currentTerm < term ? { currentTerm: term, votedFor: null } : null;
    return { ...EMPTY_BATCH, entries, hardState };
  }

  /** A new leader's view: a higher term, the tail cut and replaced. */
  private truncateBatch(): PersistBatch {
    const disk = this.disk;
    const from = Math.max(disk.firstIndex(), disk.lastIndex() - this.prng.intBetween(0, 8));
    const term = this.term() + 1;
    const entries = Array.from({ length: this.prng.intBetween(0, 6) }, (_, i) => ({
      index: from + i,
      term,
      type: 'noop' as const,
      command: fill(this.prng.intBetween(0, 64), from + i + term),
    }));
    return {
      snapshot: null,
      truncateFrom: from,
      entries,
      compactBefore: null,
      hardState: { currentTerm: term, votedFor: 'n2' },
    };
  }

  private snapshotBatch(bytes: number, compact: boolean): PersistBatch {
    const disk = this.disk;
    const last = disk.lastIndex();
    const index = Math.max(
      disk.firstIndex() - 1,
      disk.snapshot?.lastIncludedIndex ?? 0,
      last - this.prng.intBetween(0, 40),
    );
    const covered = disk.entries.find((e) => e.index === index);
    const term = covered?.term ?? disk.snapshot?.lastIncludedTerm ?? 0;
    const snapshot: Snapshot = {
      lastIncludedIndex: index,
      lastIncludedTerm: term,
      configuration: CONFIGURATION,
      data: fill(bytes, index),
    };
    return { ...EMPTY_BATCH, snapshot, compactBefore: compact ? index + 1 : null };
  }
}
