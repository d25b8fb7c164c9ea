/**
 * Frees dead buffers sooner than V8 would on its own (issue 17). A Buffer's bytes live outside
 * the V8 heap (malloc'd), and are freed only when a garbage collection finds its ArrayBuffer
 * dead. Buffers that die young go at the next scavenge; but under load many of the agent's
 * buffers die old: a log entry compacted away, a WAL tail entry checkpointed, a snapshot's
 * chunks. V8 starts a full collection for them only once the external bytes grew by tens of MiB
 * since the last one, and glibc keeps the high-water mark of its heap resident afterwards.
 *
 * A full collection stops the agent for 30-90 ms (measured on a loaded leader), so the collector
 * runs one only when the agent's memory budget needs it and it is likely to pay:
 * - the memory in use (V8's heap used plus the ArrayBuffer bytes above their least since the
 *   collector started: the agent starts it once its storage is open, before it loads its log and
 *   store, so this leaves out buffers held for good such as LMDB's 16 MiB read buffer, mostly
 *   never touched) is past `lineBytes` (from the heap limit, config/memory-budget.ts); below it
 *   V8's own pace is within the budget;
 * - the ArrayBuffer bytes grew past their least since the last collection by more than
 *   `slackBytes`, once scaled by the share of such growth that collections are expected to free.
 *   Growth of live buffers (a log filling up to its snapshot, a snapshot being encoded) is not
 *   freed by a collection. Each collection is judged by what it freed (its bytes less the least
 *   seen after it, as V8 may account freed buffers only once it swept them) over the smaller of
 *   its growth and the slack; the expected share is the mean of the one before and that, at least
 *   DEAD_SHARE_MIN. So a collection that freed nothing makes the next wait for twice the growth,
 *   and one that freed the slack brings the share back up.
 * Under load, a full collection V8 ran of its own (a reading's `fullCollections` grew since the
 * last look) counts as one of the collector's for the growth: it freed the same dead buffers, so
 * the growth is measured from what it left. Without that, a leader under 64 clients x 4 KiB, whose
 * heap near its limit had V8 run two or three a second, still had the collector force one about
 * every two seconds beside them (15-20 in 32 s of load, 60-120 ms each), every one stalling the
 * whole cluster behind the leader.
 * Nor does the collector run one under load within `v8QuietMsMin` of V8's own last full collection
 * (as a look saw it): V8 keeps collecting on its own pace then, and its collections free the dead
 * buffers with most of the marking done beside the agent (pauses of 3-20 ms), where the
 * collector's gc() marks and compacts the whole heap in one stop. Under 64 clients V8 ran one
 * every 0.15-0.5 s at 4 KiB values and every 0.4-2 s at 256 B, and the collector's, forced 0.2-0.4 s
 * after one of V8's on the buffers grown since (mostly live: the log), stopped a follower for
 * 40-180 ms each (latency probe, loaded machine), the longest pauses of the run.
 * After activity (applied entries) the collector looks at most every `checkIntervalMs`, collects
 * at most once per `collectIntervalMsMin`, and checks once after the last activity: then, the
 * load over, one collection stalls no one, so it collects whenever the buffers grew past the
 * slack, whatever the line and the share, and the buffers of a load are released after it ends.
 * An agent at rest has no timer. The collection is V8's gc function (exposedCollector).
 *
 * Under load, the members take turns (`turn`): a member collects only in the first half of its own
 * slot of TURN_SLOT_MS in a round of one slot per member (wall clock, ordered by node id). The
 * followers receive the same entries at the same moments and their memory follows the same course,
 * so their collectors decided alike: in two of three latency-probe runs under 64 clients (loaded
 * machine) both followers forced one within 0.4 ms and 13 ms of each other, 100-150 ms each, and the
 * leader, without a quorum meanwhile, committed nothing for that long. A collection that starts in
 * the first half of a slot is over (pauses up to 250 ms measured) before the next member's slot
 * begins; a member waits at most one round less half a slot for its turn. Without synchronised
 * clocks the turns are as good as random, as before.
 *
 * A scavenge (`gc({type: 'minor'})`) is no cheaper lever: on a leader under 64 clients x 4 KiB
 * it took 4-8 ms and freed 0.4-0.9 MiB of buffers on average (the dead ones are old), about
 * the cost per MiB of a full collection, which freed 4.6-6.3 MiB in 55-72 ms.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { assert } from '../../contracts/assert.js';
import type { Timers, TimerHandle } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';

/** The collector's bounds. */
export interface BufferCollectorOptions {
  /** Memory in use (heap used + ArrayBuffer bytes above their least since start) below which none runs, bytes. */
  readonly lineBytes: number;
  /** Growth of the ArrayBuffer bytes, scaled by the share found dead, that starts a collection, bytes. >= 1 MiB. */
  readonly slackBytes: number;
  /** Least time between two looks at the memory while entries apply, ms. >= 10. */
  readonly checkIntervalMs: number;
  /** Least time between two collections, ms. >= checkIntervalMs. */
  readonly collectIntervalMsMin: number;
  /** Under load, least time since V8's own last full collection before the collector runs one, ms. >= 0. */
  readonly v8QuietMsMin: number;
  /** This member's turn to collect under load (see the module comment); null or absent: any time. */
  readonly turn?: CollectorTurn | null;
}

/** A member's place in the round of turns: `rank` 0..members-1, by node id. */
export interface CollectorTurn {
  readonly rank: number;
  readonly members: number;
}

/** Length of one member's turn under load, ms; a collection starts only in its first half. */
export const TURN_SLOT_MS = 1000;

/** The turn of `nodeId` among the members `ids` (by id), or null when it is not one of them. */
export function collectorTurnOf(nodeId: string, ids: readonly string[]): CollectorTurn | null {
  const sorted = [...new Set(ids)].sort();
  const rank = sorted.indexOf(nodeId);
  return rank < 0 ? null : { rank, members: sorted.length };
}

/** The collector's defaults (the line and the slack come from the heap budget, config/memory-budget.ts). */
export const BUFFER_COLLECTOR_TIMING = { checkIntervalMs: 250, collectIntervalMsMin: 500, v8QuietMsMin: 1000 } as const;

/** The least share of the ArrayBuffer growth the collector expects to be dead (it never stops collecting). */
export const DEAD_SHARE_MIN = 1 / 8;

/** One reading of the agent's memory. */
export interface MemoryReading {
  /** The bytes of every ArrayBuffer, live or not yet collected (process.memoryUsage().arrayBuffers). */
  readonly arrayBufferBytes: number;
  /** The bytes of the V8 heap in use (process.memoryUsage().heapUsed). */
  readonly heapUsedBytes: number;
  /** Full collections V8 ran so far of its own (not a gc() call's); absent when unknown. */
  readonly fullCollections?: number;
}

/** What the collector reads and calls. */
export interface BufferCollectorDeps {
  readonly timers: Timers;
  readonly metrics: Metrics;
  /** Reads the agent's memory now. */
  readonly memory: () => MemoryReading;
  /** Runs a full garbage collection, synchronously. */
  readonly collect: () => void;
  /** The wall clock, ms since the epoch (the members' turns); Date.now when absent. */
  readonly wallClockMs?: () => number;
}

export class BufferCollector {
  /** The least ArrayBuffer bytes seen since start: buffers the agent holds for good. */
  private baseBytes: number;
  /** The least ArrayBuffer bytes seen since the last collection (or since start). */
  private floorBytes: number;
  /** The expected dead share before the last collection was judged (1 before any). */
  private priorShare = 1;
  /** The ArrayBuffer bytes when the last collection ran and their growth past the floor then; null before any. */
  private lastCollected: { readonly bytes: number; readonly grownBytes: number } | null = null;
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private lastCollectMs = Number.NEGATIVE_INFINITY;
  /** When a look last saw a full collection V8 ran of its own. */
  private lastV8CollectionMs = Number.NEGATIVE_INFINITY;
  private lastActivityMs = Number.NEGATIVE_INFINITY;
  /** The check after the last activity; null while none is armed. */
  private trailing: TimerHandle | null = null;
  private collectionsValue = 0;
  /** V8's full collections at the last look (null before any, or when the readings do not count them). */
  private fullCollectionsSeen: number | null = null;
  private stopped = false;

  constructor(
    private readonly deps: BufferCollectorDeps,
    private readonly options: BufferCollectorOptions,
  ) {
    assert(options.lineBytes >= 0, 'lineBytes is not negative');
    assert(options.slackBytes >= 1024 * 1024, 'slackBytes is at least 1 MiB');
    assert(options.checkIntervalMs >= 10, 'checkIntervalMs is at least 10 ms');
    assert(options.collectIntervalMsMin >= options.checkIntervalMs, 'collectIntervalMsMin >= checkIntervalMs');
    assert(options.v8QuietMsMin >= 0, 'v8QuietMsMin is not negative');
    const turn = options.turn ?? null;
    assert(
      turn === null || (Number.isSafeInteger(turn.rank) && turn.rank >= 0 && turn.rank < turn.members),
      'a turn is a rank among the members',
    );
    this.baseBytes = deps.memory().arrayBufferBytes;
    this.floorBytes = this.baseBytes;
  }

  /** Collections run so far. */
  collections(): number {
    return this.collectionsValue;
  }

  /** The share of the ArrayBuffer growth the collector expects a collection to free, DEAD_SHARE_MIN..1. */
  expectedDeadShare(): number {
    const last = this.lastCollected;
    if (last === null) return 1;
    // Judged on the least bytes since: V8 may account the freed buffers only once it swept them, after gc() returned.
    // A collection that freed the slack paid, whatever live growth came beside the dead buffers.
    const freedBytes = Math.max(0, last.bytes - this.floorBytes);
    const freedShare = Math.min(1, freedBytes / Math.min(last.grownBytes, this.options.slackBytes));
    return Math.max(DEAD_SHARE_MIN, (this.priorShare + freedShare) / 2);
  }

  /** Notes activity (an entry applied): checks now if the last check is old enough, and once after it. */
  noteActivity(): void {
    if (this.stopped) return;
    const now = this.deps.timers.nowMs();
    this.lastActivityMs = now;
    if (now - this.lastCheckMs >= this.options.checkIntervalMs) this.check(now);
    this.trailing ??= this.deps.timers.setTimer(this.restMs(), () => this.onTrailing());
  }

  /** How long without activity makes the agent at rest, ms. */
  private restMs(): number {
    return this.options.collectIntervalMsMin * 2;
  }

  /** The trailing check: at rest once no entry applied for restMs, else a check and the timer again. */
  private onTrailing(): void {
    this.trailing = null;
    const now = this.deps.timers.nowMs();
    const quietMs = now - this.lastActivityMs;
    if (quietMs >= this.restMs()) {
      this.check(now, true);
      return;
    }
    this.check(now);
    this.trailing = this.deps.timers.setTimer(this.restMs() - quietMs, () => this.onTrailing());
  }

  /** Cancels the trailing check (the agent stops). */
  stop(): void {
    this.stopped = true;
    this.trailing?.cancel();
    this.trailing = null;
  }

  /** Looks at the memory; `atRest` (no entry applied for a while): the line and the dead share do not apply. */
  private check(now: number, atRest = false): void {
    this.lastCheckMs = now;
    const reading = this.deps.memory();
    const bytes = reading.arrayBufferBytes;
    const fullBefore = this.fullCollectionsSeen;
    this.fullCollectionsSeen = reading.fullCollections ?? null;
    const v8Collected = fullBefore !== null && (reading.fullCollections ?? fullBefore) > fullBefore;
    // Under load, the growth counts from what V8's own full collection left (see the module comment).
    if (!atRest && v8Collected) {
      this.floorBytes = bytes;
      this.lastV8CollectionMs = now;
    }
    this.baseBytes = Math.min(this.baseBytes, bytes);
    this.floorBytes = Math.min(this.floorBytes, bytes);
    const grownBytes = bytes - this.floorBytes;
    const deadShare = this.expectedDeadShare();
    if (grownBytes * (atRest ? 1 : deadShare) <= this.options.slackBytes) return;
    if (!atRest && reading.heapUsedBytes + bytes - this.baseBytes <= this.options.lineBytes) return;
    if (!atRest && now - this.lastV8CollectionMs < this.options.v8QuietMsMin) return;
    if (now - this.lastCollectMs < this.options.collectIntervalMsMin) return;
    if (!atRest && !this.onTurn()) return;
    this.deps.collect();
    this.lastCollectMs = now;
    this.collectionsValue += 1;
    this.deps.metrics.increment('agent_buffer_collections_total');
    this.priorShare = deadShare;
    this.lastCollected = { bytes, grownBytes };
    const after = this.deps.memory();
    this.floorBytes = after.arrayBufferBytes;
    this.baseBytes = Math.min(this.baseBytes, this.floorBytes);
    this.fullCollectionsSeen = after.fullCollections ?? null;
  }

  /** Whether it is this member's turn to collect under load: the first half of its slot in the round. */
  private onTurn(): boolean {
    const turn = this.options.turn ?? null;
    if (turn === null || turn.members <= 1) return true;
    const wallMs = (this.deps.wallClockMs ?? Date.now)();
    const slot = Math.floor(wallMs / TURN_SLOT_MS);
    return slot % turn.members === turn.rank && wallMs - slot * TURN_SLOT_MS < TURN_SLOT_MS / 2;
  }
}

/**
 * A full collection: V8's `gc` function, the global one of a Node started with `--expose-gc`, else
 * taken at the first call from a context made after setting the flag (the agent sets it as it
 * starts, v8-flags.ts: Node 20.11 refuses it in NODE_OPTIONS). The context costs about 0.35 MiB of
 * heap, so it is made only when a collection is due, never by an agent at rest.
 */
export function exposedCollector(): () => void {
  const global: unknown = Reflect.get(globalThis, 'gc');
  let gc: unknown = typeof global === 'function' ? global : null;
  return () => {
    if (gc === null) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc');
    }
    assert(typeof gc === 'function', 'V8 exposes gc once --expose-gc is set');
    Reflect.apply(gc, undefined, []);
  };
}

/** Full collections (mark-compact) V8 ran of its own in this process, counted by {@link countFullCollections}. */
let fullCollections = 0;
let gcObserver: PerformanceObserver | null = null;

/**
 * Starts counting the full collections V8 runs of its own (a 'gc' performance observer;
 * idempotent). A gc() call's is left out: V8 reports a collection's entry asynchronously, after
 * the call returned (within about 10 ms), so the collector's next look would take its own
 * collection for one of V8's, and then wait v8QuietMsMin more before the next.
 */
export function countFullCollections(): void {
  if (gcObserver !== null) return;
  gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail: unknown = Reflect.get(entry, 'detail');
      const field = (name: string): unknown =>
        typeof detail === 'object' && detail !== null ? Reflect.get(detail, name) : undefined;
      const flags = field('flags');
      const forced = typeof flags === 'number' && (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
      if (field('kind') === constants.NODE_PERFORMANCE_GC_MAJOR && !forced) fullCollections += 1;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

/** Reads the memory of this process for the collector (with the full collections once counted). */
export function processMemory(): MemoryReading {
  const usage = process.memoryUsage();
  const reading = { arrayBufferBytes: usage.arrayBuffers, heapUsedBytes: usage.heapUsed };
  return gcObserver === null ? reading : { ...reading, fullCollections };
}
