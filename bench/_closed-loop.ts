/**
 * Closed-loop writes against a system under test (bench/_system.ts): `clients` writers on the
 * leader, each putting a value of a fixed size to its own keys as fast as answers come: 64 keys,
 * fewer when their values would pass STORE_BUDGET_BYTES ({@link keysPerClient}). Each slice removes
 * its keys when it ends (unmeasured), so every slice starts on an empty store whatever ran before
 * it: left in place, the keys of the 64 KiB shapes filled coraft's store to its data limit
 * (kv.dataBytesMax, 64 MiB), and later shapes measured refusals instead of writes. A
 * measurement may be made of several slices (so two systems can take turns); the figures of
 * the slices add up. Over each slice's measured window it reads every member's /proc: CPU
 * time, block-layer writes, and resident memory sampled every 250 ms.
 */
import { performance } from 'node:perf_hooks';
import { readProcess } from './_proc.js';
import type { ProcessSample } from './_proc.js';
import { LatencyRecorder, round } from './_figures.js';
import { sleep } from './_system.js';
import type { BenchSystem, BenchWriter } from './_system.js';

/** Keys each client cycles through, at most. */
export const KEYS_PER_CLIENT = 64;
/** Most value bytes a slice's keys hold together: a quarter of coraft's default data limit. */
export const STORE_BUDGET_BYTES = 16 * 1024 * 1024;

/** The keys each of `clients` writers cycles through: KEYS_PER_CLIENT, fewer to keep them within STORE_BUDGET_BYTES. */
export function keysPerClient(clients: number, valueBytes: number): number {
  const fit = Math.floor(STORE_BUDGET_BYTES / (clients * Math.max(1, valueBytes)));
  return Math.max(1, Math.min(KEYS_PER_CLIENT, fit));
}

/** The key writer `c` of a slice writes in turn `j`. */
function benchKey(c: number, j: number, keys: number): string {
  return `bench-${c}-${j % keys}`;
}
/** Most latencies kept per measurement (8 MB); beyond it writes are counted, not timed. */
export const LATENCY_SAMPLES_MAX = 1_000_000;
/** How often resident memory is sampled, ms. */
const RSS_SAMPLE_MS = 250;

/** One member's use of the machine over the measured windows. */
export interface MemberUsage {
  readonly id: string;
  readonly cpuSeconds: number;
  /** Highest VmRSS sampled. */
  readonly rssPeakBytes: number;
  /** Highest RssAnon sampled. */
  readonly rssAnonPeakBytes: number;
  /** Bytes written to the block layer; null without task I/O accounting. */
  readonly writeBytes: number | null;
  /** Bytes handed to write calls (wchar); null without task I/O accounting. */
  readonly writeCallBytes: number | null;
}

/** `prior` plus the growth of a counter from `before` to `after`; null once any of them is unknown. */
function addDelta(
  prior: number | null,
  before: number | null | undefined,
  after: number | null | undefined,
): number | null {
  return prior === null || before === null || before === undefined || after === null || after === undefined
    ? null
    : prior + after - before;
}

/** The sum of a measurement's slices so far. */
export class LoadAccumulator {
  readonly latencies = new LatencyRecorder(LATENCY_SAMPLES_MAX);
  writes = 0;
  errors = 0;
  elapsedMs = 0;
  /** Snapshot sends during the windows; null once the system could not tell. */
  snapshotSends: number | null = 0;
  readonly members = new Map<string, MemberUsage>();

  constructor(
    readonly clients: number,
    readonly valueBytes: number,
  ) {}

  /** Adds one member's usage over one window. */
  addMember(
    id: string,
    before: ProcessSample | null,
    after: ProcessSample | null,
    rssPeak: number,
    anonPeak: number,
  ): void {
    const prior = this.members.get(id) ?? {
      id,
      cpuSeconds: 0,
      rssPeakBytes: 0,
      rssAnonPeakBytes: 0,
      writeBytes: 0,
      writeCallBytes: 0,
    };
    const cpu = before !== null && after !== null ? after.cpuSeconds - before.cpuSeconds : 0;
    this.members.set(id, {
      id,
      cpuSeconds: prior.cpuSeconds + cpu,
      rssPeakBytes: Math.max(prior.rssPeakBytes, rssPeak),
      rssAnonPeakBytes: Math.max(prior.rssAnonPeakBytes, anonPeak),
      writeBytes: addDelta(prior.writeBytes, before?.writeBytes, after?.writeBytes),
      writeCallBytes: addDelta(prior.writeCallBytes, before?.writeCallBytes, after?.writeCallBytes),
    });
  }
}

/** How one slice is run. */
export interface SliceOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Bound on finding the leader and on settling before the slice, ms. */
  readonly settleBoundMs: number;
  /** Called as the measured window opens (after the warm-up) and as it closes. */
  readonly window?: { readonly opened: () => void; readonly closed: () => void };
}

async function openWriters(
  system: BenchSystem,
  leader: string,
  count: number,
  value: Uint8Array,
): Promise<BenchWriter[]> {
  const writers: BenchWriter[] = [];
  for (let i = 0; i < count; i += 1) writers.push(await system.openWriter(leader, value));
  return writers;
}

/** Samples every member until stopped; returns the peaks. */
function sampleMemory(system: BenchSystem): { stop: () => Map<string, { rss: number; anon: number }> } {
  const peaks = new Map<string, { rss: number; anon: number }>();
  const sample = (): void => {
    for (const m of system.members()) {
      const s = m.pid === null ? null : readProcess(m.pid);
      if (s === null) continue;
      const p = peaks.get(m.id) ?? { rss: 0, anon: 0 };
      peaks.set(m.id, { rss: Math.max(p.rss, s.rssBytes), anon: Math.max(p.anon, s.rssAnonBytes) });
    }
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

function readMembers(system: BenchSystem): Map<string, ProcessSample | null> {
  return new Map(system.members().map((m) => [m.id, m.pid === null ? null : readProcess(m.pid)]));
}

/** Runs one slice of closed-loop writes on `system`'s leader and adds its figures to `acc`. */
export async function runSlice(system: BenchSystem, acc: LoadAccumulator, options: SliceOptions): Promise<void> {
  await system.settle(options.settleBoundMs);
  const leader = await system.leader(options.settleBoundMs);
  const writers = await openWriters(system, leader, acc.clients, new Uint8Array(acc.valueBytes).fill(0x61));
  const keys = keysPerClient(acc.clients, acc.valueBytes);
  let measuring = false;
  let running = true;
  const loop = async (writer: BenchWriter, c: number): Promise<void> => {
    for (let j = 0; running; j += 1) {
      const started = performance.now();
      const ok = await writer.put(benchKey(c, j, keys)).catch(() => false);
      if (!measuring) continue;
      if (ok) {
        acc.latencies.record(performance.now() - started);
        acc.writes += 1;
      } else acc.errors += 1;
    }
  };
  const loops = writers.map((w, c) => loop(w, c));
  await sleep(options.warmupMs);
  const sendsBefore = await system.snapshotSends();
  const before = readMembers(system);
  const memory = sampleMemory(system);
  const started = performance.now();
  options.window?.opened();
  measuring = true;
  await sleep(options.durationMs);
  measuring = false;
  options.window?.closed();
  acc.elapsedMs += performance.now() - started;
  const after = readMembers(system);
  const peaks = memory.stop();
  running = false;
  await Promise.all(loops);
  await Promise.all(writers.map((w) => w.close()));
  await system.removeKeys(
    leader,
    Array.from({ length: acc.clients * keys }, (_, i) => benchKey(Math.floor(i / keys), i, keys)),
  );
  const sendsAfter = await system.snapshotSends();
  acc.snapshotSends =
    acc.snapshotSends === null || sendsBefore === null || sendsAfter === null
      ? null
      : acc.snapshotSends + sendsAfter - sendsBefore;
  for (const m of system.members())
    acc.addMember(
      m.id,
      before.get(m.id) ?? null,
      after.get(m.id) ?? null,
      peaks.get(m.id)?.rss ?? 0,
      peaks.get(m.id)?.anon ?? 0,
    );
}

/**
 * Unmeasured load before the first measured slice: `totalMs` of closed-loop writes cut evenly over
 * `points` (each shape's code paths get their share), figures thrown away. A system on a JIT runtime
 * (coraft on V8) reaches its steady code only after some seconds of load (at one client its p99 fell
 * from ~5 ms in the first seconds after start to ~2.5-3 ms after 20-60 s); a slice's own warm-up
 * (about a second) does not cover that, so without this the first point measured start-up.
 */
export async function warmUp(
  system: BenchSystem,
  points: readonly { readonly clients: number; readonly valueBytes: number }[],
  totalMs: number,
  settleBoundMs: number,
): Promise<void> {
  if (totalMs <= 0 || points.length === 0) return;
  const durationMs = Math.max(1, Math.round(totalMs / points.length));
  for (const point of points)
    await runSlice(system, new LoadAccumulator(point.clients, point.valueBytes), {
      durationMs,
      warmupMs: 0,
      settleBoundMs,
    });
}

/** The figures of one system at one load point. */
export interface LoadFigures {
  readonly clients: number;
  readonly valueBytes: number;
  readonly durationMs: number;
  readonly writes: number;
  readonly errors: number;
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The 99.9th percentile: at one client, the slowest tenth of the slowest 1 %. */
  readonly p999Ms: number;
  readonly maxMs: number;
  /** CPU seconds per 1,000 acknowledged writes, all members together. */
  readonly cpuSecondsPer1000Writes: number | null;
  readonly members: readonly (MemberUsage & { readonly cpuSecondsPer1000Writes: number | null })[];
  readonly snapshotSends: number | null;
}

/** The figures an accumulator adds up to. */
export function loadFigures(acc: LoadAccumulator): LoadFigures {
  const per1000 = (cpu: number): number | null => (acc.writes > 0 ? round((1000 * cpu) / acc.writes, 4) : null);
  const members = [...acc.members.values()].map((m) => ({
    ...m,
    cpuSeconds: round(m.cpuSeconds, 3),
    cpuSecondsPer1000Writes: per1000(m.cpuSeconds),
  }));
  const latency = acc.latencies.summary();
  return {
    clients: acc.clients,
    valueBytes: acc.valueBytes,
    durationMs: Math.round(acc.elapsedMs),
    writes: acc.writes,
    errors: acc.errors,
    writesPerSecond: acc.elapsedMs > 0 ? Math.round((1000 * acc.writes) / acc.elapsedMs) : 0,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    p999Ms: latency.p999Ms,
    maxMs: latency.maxMs,
    cpuSecondsPer1000Writes: per1000([...acc.members.values()].reduce((s, m) => s + m.cpuSeconds, 0)),
    members,
    snapshotSends: acc.snapshotSends,
  };
}
