/**
 * A bench-only latency breakdown of the write path (issue 16, one client): when the agent runs
 * with CORAFT_LATENCY_PROBE=DIR in its environment, the node marks the time at which each log
 * index passes each stage of its path, and the agent writes the marks to DIR/<node>.latency.json
 * when it stops (bench/_latency-breakdown.ts merges the three agents' files). Without the
 * variable the node has no probe, and every mark is one comparison with undefined.
 *
 * Stages, in the order an entry meets them:
 * - leader: `propose` (the core took the command), `ready` (the Ready that carries the entry is
 *   taken), `sent` (its AppendEntries left), `synced` (its write returned), `ack` and `ack2` (the
 *   first and second AppendEntries answers that cover it), `committed` (the Ready that commits it
 *   is taken), `applied`;
 * - follower: `recv` (the AppendEntries that carries it arrived), `ready`, `synced`, `answered`
 *   (the answer left), `committed`, `applied`;
 * - leader's local endpoint (endpoint-probe.ts): `received` (the datagram of the request reached
 *   the endpoint's socket handler) and `responded` (the response was handed to the socket). The
 *   endpoint does not know the index, so the probe gives `received` to the next index proposed
 *   and `responded` to the last index applied: exact with one client writing, as the bench's
 *   1-client breakdown needs; with more clients they are only roughly the request's.
 * Times are ms on one clock shared by the agents of a machine (performance.timeOrigin plus
 * performance.now()), so a follower's `recv` is comparable with the leader's `sent`. GC pauses
 * are recorded beside them, to find the cause of a slow write.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import type { LogIndex, NodeId } from '../../contracts/log.js';

/** The probes' clock, ms: shared by the processes of a machine (see the module comment). */
export const probeNow = (): number => performance.timeOrigin + performance.now();

/** A GC pause as the probes record it: [wall-clock start ms, duration ms, kind, flags] (Node's PerformanceEntry). */
export type GcPause = [number, number, number, number];

/** Appends every GC pause of this process to `into`, at most `max` of them, until the observer is disconnected. */
export function gcPauseRecorder(into: GcPause[], max: number): PerformanceObserver {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (into.length >= max) return;
      const detail: unknown = Reflect.get(entry, 'detail');
      const of = (name: string): number => {
        const v: unknown = typeof detail === 'object' && detail !== null ? Reflect.get(detail, name) : 0;
        return typeof v === 'number' ? v : 0;
      };
      into.push([performance.timeOrigin + entry.startTime, entry.duration, of('kind'), of('flags')]);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return observer;
}

/** The stages of {@link LatencyProbe}; see the module comment. */
export const LATENCY_STAGES = [
  'propose',
  'recv',
  'ready',
  'sent',
  'synced',
  'answered',
  'ack',
  'ack2',
  'committed',
  'applied',
  'received',
  'responded',
] as const;

/** One stage of {@link LATENCY_STAGES}. */
export type LatencyStage = (typeof LATENCY_STAGES)[number];

/** Where the node marks the stages of its entries; see the module comment. */
export interface LatencyProbe {
  /** Index `index` passed `stage` now. A stage marked again for an index keeps its first time. */
  mark(stage: LatencyStage, index: LogIndex): void;
  /**
   * The local endpoint's socket received a datagram (`received`) or sent one (`responded`) now;
   * see the module comment for the index they are given. Optional: a probe without it ignores them.
   */
  markEndpoint?(stage: 'received' | 'responded'): void;
}

/** Most indexes one probe records; later ones are counted, not recorded. */
export const PROBE_INDEXES_MAX = 200_000;
/** Most GC pauses one probe records. */
export const PROBE_GC_PAUSES_MAX = 20_000;

/** What a probe writes: its marks by index and stage, and the GC pauses it saw. */
export interface ProbeRecord {
  readonly node: NodeId;
  readonly stages: readonly LatencyStage[];
  /** Per index: [index, time of each stage in LATENCY_STAGES order or null]. */
  readonly marks: readonly (readonly [LogIndex, ...(number | null)[]])[];
  /**
   * [start, duration, kind, flags] of each GC pause, ms (node:perf_hooks' constants: kind 1 minor,
   * 4 major; flags 4 forced, a gc() call).
   */
  readonly gc: readonly (readonly [number, number, number, number])[];
  readonly droppedIndexes: number;
}

const STAGE_SLOT = new Map<LatencyStage, number>(LATENCY_STAGES.map((stage, slot) => [stage, slot]));
/** Marks written to a probe's file at once. */
const WRITE_ROWS = 1000;

/** One row of a record's marks: the index, then each stage's time in µs-rounded ms or null. */
function markRow(index: LogIndex, times: Float64Array): readonly [LogIndex, ...(number | null)[]] {
  const round = (t: number): number | null => (Number.isNaN(t) ? null : Math.round(t * 1000) / 1000);
  return [index, ...Array.from(times, round)];
}

/** A probe that records in memory; see the module comment. */
export class RecordingProbe implements LatencyProbe {
  private readonly marks = new Map<LogIndex, Float64Array>();
  private readonly gc: GcPause[] = [];
  private droppedIndexes = 0;
  private observer: PerformanceObserver | null = null;
  /** When the endpoint last received a datagram not yet given to a proposed index; NaN: none. */
  private receivedAt = Number.NaN;
  /** The last index marked `applied`; -1: none yet. */
  private lastApplied: LogIndex = -1;

  /** @param nowMs the shared clock (default: probeNow). */
  constructor(
    private readonly node: NodeId,
    private readonly nowMs: () => number = probeNow,
  ) {}

  mark(stage: LatencyStage, index: LogIndex): void {
    this.markAt(stage, index, this.nowMs());
    if (stage === 'propose' && !Number.isNaN(this.receivedAt)) {
      this.markAt('received', index, this.receivedAt);
      this.receivedAt = Number.NaN;
    }
    if (stage === 'applied') this.lastApplied = index;
  }

  markEndpoint(stage: 'received' | 'responded'): void {
    if (stage === 'received') this.receivedAt = this.nowMs();
    else if (this.lastApplied >= 0) this.markAt('responded', this.lastApplied, this.nowMs());
  }

  private markAt(stage: LatencyStage, index: LogIndex, at: number): void {
    let times = this.marks.get(index);
    if (times === undefined) {
      if (this.marks.size >= PROBE_INDEXES_MAX) {
        this.droppedIndexes += 1;
        return;
      }
      times = new Float64Array(LATENCY_STAGES.length).fill(Number.NaN);
      this.marks.set(index, times);
    }
    const slot = STAGE_SLOT.get(stage) ?? 0;
    if (stage === 'ack' && !Number.isNaN(times[slot] ?? Number.NaN)) {
      this.markAt('ack2', index, at);
      return;
    }
    if (Number.isNaN(times[slot] ?? 0)) times[slot] = at;
  }

  /** Starts recording GC pauses (until {@link stopGc}). */
  watchGc(): void {
    if (this.observer !== null) return;
    this.observer = gcPauseRecorder(this.gc, PROBE_GC_PAUSES_MAX);
  }

  stopGc(): void {
    this.observer?.disconnect();
    this.observer = null;
  }

  /** What was recorded so far. */
  record(): ProbeRecord {
    const marks: (readonly [LogIndex, ...(number | null)[]])[] = [];
    for (const [index, times] of this.marks) marks.push(markRow(index, times));
    return { node: this.node, stages: LATENCY_STAGES, marks, gc: this.gc, droppedIndexes: this.droppedIndexes };
  }

  /**
   * Writes {@link record} as JSON to DIR/<node>.latency.json, the marks a thousand at a time: a
   * leader's record after a whole vs-etcd grid (about 100k indexes) built as one string did not fit
   * beside its store under the unit's heap limit, and no file was written.
   */
  writeTo(dir: string): string {
    const file = join(dir, `${this.node}.latency.json`);
    const fd = openSync(file, 'w');
    try {
      const head = { node: this.node, stages: LATENCY_STAGES, gc: this.gc, droppedIndexes: this.droppedIndexes };
      writeSync(fd, `${JSON.stringify(head).slice(0, -1)},"marks":[`);
      let rows: string[] = [];
      let separator = '';
      const flush = (): void => {
        if (rows.length === 0) return;
        writeSync(fd, `${separator}${rows.join(',')}`);
        separator = ',';
        rows = [];
      };
      for (const [index, times] of this.marks) {
        rows.push(JSON.stringify(markRow(index, times)));
        if (rows.length >= WRITE_ROWS) flush();
      }
      flush();
      writeSync(fd, ']}');
    } finally {
      closeSync(fd);
    }
    return file;
  }
}

/** The probe the environment asks for: CORAFT_LATENCY_PROBE=DIR, or null without it. */
export function latencyProbeFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  node: NodeId,
): { readonly probe: RecordingProbe; readonly dir: string } | null {
  const dir = env.CORAFT_LATENCY_PROBE;
  if (dir === undefined || dir === '') return null;
  const probe = new RecordingProbe(node);
  probe.watchGc();
  return { probe, dir };
}
