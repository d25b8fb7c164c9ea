/**
 * JavaScript heap bytes each agent allocates per committed write, under closed-loop writes to the
 * leader of a fresh 3-agent cluster (the agent's defaults, as vs-etcd's; each client cycles
 * through its own keys, as many as bench/_closed-loop.ts gives it, so that large values stay
 * within the store's data limit and no write is refused):
 *
 *   npm run bench -- alloc-per-write [--a=DIR] [--clients=1] [--value-bytes=256] [--duration-ms=8000]
 *                                    [--warmup-ms=1000] [--json]
 *
 * The agents run with V8's --trace-gc-nvp, whose every GC line carries `allocated=` (bytes
 * allocated on the V8 heap since the previous GC); the bench adds those up per agent over the
 * measured window and divides by the writes acknowledged in it. The figure is exact to within one
 * young-generation cycle per agent (about 1-16 MiB; give enough writes that this does not matter),
 * and counts V8 heap objects only: ArrayBuffer backing stores outside the heap (Buffer.alloc above
 * the pool) do not show here. Also reports GCs per 1,000 writes by kind (s = scavenge,
 * mc = mark-compact, ms = minor mark-sweep), and the GC pauses (each line's `pause=`, the main
 * thread's stop) longer than LONG_PAUSE_MS per 1,000 writes with their total ms, and the total of
 * all pauses: the pauses behind the latency tail, a count that the load of other processes on a
 * shared machine changes less than p99. --a=DIR measures another built checkout's agents
 * instead (DIR/bin/coraft.js), for before/after figures.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Cleanup } from './_cleanup.js';
import { keysPerClient } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { intOption, option, round } from './_figures.js';
import { sleep } from './_system.js';
import type { BenchWriter } from './_system.js';

/** Timeout of one client write, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** One GC line of --trace-gc-nvp: its pause (ms), its kind and the bytes allocated since the previous GC. */
const GC_LINE = /\bpause=([0-9.]+)\b.*?\bgc=(\w+)\b.*?\ballocated=(\d+)/;
/** A GC pause longer than this is counted as long (the pauses a slow write is found behind), ms. */
const LONG_PAUSE_MS = 10;
/**
 * More than this between two GCs is not a reading: V8 printed allocated=805112782553965 once (a
 * counter that went below zero), so such lines are counted as unreadable, not added.
 */
const ALLOCATED_READING_MAX = 2 ** 32;

/** What one agent's GC trace added up to at one moment. */
interface GcCounts {
  readonly allocated: number;
  readonly unreadable: number;
  readonly kinds: ReadonlyMap<string, number>;
  readonly pauseMs: number;
  readonly longPauses: number;
  readonly longPauseMs: number;
}

/** No GC seen yet. */
const NO_GC: GcCounts = { allocated: 0, unreadable: 0, kinds: new Map(), pauseMs: 0, longPauses: 0, longPauseMs: 0 };

/** One agent's GC trace, added up as it arrives. */
class GcTally {
  allocated = 0;
  /** GC lines whose allocated= was past ALLOCATED_READING_MAX. */
  unreadable = 0;
  readonly kinds = new Map<string, number>();
  /** The pauses of all GCs, ms. */
  pauseMs = 0;
  /** The GCs that paused longer than LONG_PAUSE_MS, and their pauses, ms. */
  longPauses = 0;
  longPauseMs = 0;
  private partial = '';

  add(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = GC_LINE.exec(line);
      if (m === null) continue;
      const pauseMs = Number(m[1]);
      const allocated = Number(m[3]);
      if (allocated > ALLOCATED_READING_MAX) this.unreadable += 1;
      else this.allocated += allocated;
      this.kinds.set(m[2] ?? '?', (this.kinds.get(m[2] ?? '?') ?? 0) + 1);
      this.pauseMs += pauseMs;
      if (pauseMs > LONG_PAUSE_MS) {
        this.longPauses += 1;
        this.longPauseMs += pauseMs;
      }
    }
  }

  snapshot(): GcCounts {
    const { allocated, unreadable, pauseMs, longPauses, longPauseMs } = this;
    return { allocated, unreadable, kinds: new Map(this.kinds), pauseMs, longPauses, longPauseMs };
  }
}

/** Closed-loop writes of `writers` for `durationMs`, each to its own `keys` keys; resolves to the writes acked. */
async function load(writers: readonly BenchWriter[], keys: number, durationMs: number): Promise<number> {
  let running = true;
  let writes = 0;
  const loops = writers.map(async (writer, c) => {
    for (let j = 0; running; j += 1) if (await writer.put(`alloc-${c}-${j % keys}`)) writes += 1;
  });
  await sleep(durationMs);
  running = false;
  await Promise.all(loops);
  return writes;
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const aDir = option(args, 'a', '');
  const coraftBin = aDir === '' ? null : join(resolve(aDir), 'bin', 'coraft.js');
  if (coraftBin !== null && !existsSync(coraftBin)) throw new Error(`--a: a built coraft checkout (no ${coraftBin})`);
  const clients = intOption(args, 'clients', 1, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 1024 * 1024);
  const durationMs = intOption(args, 'duration-ms', 8000, 100, 600_000);
  const warmupMs = intOption(args, 'warmup-ms', 1000, 0, 60_000);
  const tallies = new Map<string, GcTally>();
  const cleanup = new Cleanup();
  const uninstall = cleanup.onSignals(say);
  try {
    const system = cleanup.addOwner(
      await CoraftSystem.create({
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        nodeArgs: ['--trace-gc-nvp'],
        onOutput: (id, chunk) => {
          const tally = tallies.get(id) ?? new GcTally();
          tallies.set(id, tally);
          tally.add(chunk);
        },
        ...(coraftBin === null ? {} : { coraftBin }),
      }),
    );
    await system.start();
    const leader = await system.leader(60_000);
    const value = new Uint8Array(valueBytes).fill(0x61);
    const writers: BenchWriter[] = [];
    for (let i = 0; i < clients; i += 1) writers.push(await system.openWriter(leader, value));
    const keys = keysPerClient(clients, valueBytes);
    await load(writers, keys, warmupMs);
    const before = new Map([...tallies].map(([id, t]) => [id, t.snapshot()]));
    const started = performance.now();
    const writes = await load(writers, keys, durationMs);
    const elapsed = performance.now() - started;
    const after = new Map([...tallies].map(([id, t]) => [id, t.snapshot()]));
    await Promise.all(writers.map((w) => w.close()));
    say(`alloc-per-write: ${coraftBin ?? 'this checkout'}; ${clients} client(s) x ${valueBytes} B`);
    say(`${writes} writes in ${Math.round(elapsed)} ms (${Math.round((1000 * writes) / elapsed)}/s)`);
    const members: Record<string, unknown>[] = [];
    for (const [id, end] of [...after].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      const start = before.get(id) ?? NO_GC;
      const unreadable = end.unreadable - start.unreadable;
      const perWrite = writes > 0 ? Math.round((end.allocated - start.allocated) / writes) : null;
      const gcs: Record<string, number> = {};
      for (const [kind, n] of end.kinds) gcs[kind] = round((1000 * (n - (start.kinds.get(kind) ?? 0))) / writes, 2);
      const pauses = {
        longPer1000Writes: writes > 0 ? round((1000 * (end.longPauses - start.longPauses)) / writes, 2) : null,
        longMs: round(end.longPauseMs - start.longPauseMs, 1),
        allMs: round(end.pauseMs - start.pauseMs, 1),
      };
      const role = id === leader ? 'leader' : 'follower';
      const note = unreadable > 0 ? ` (${unreadable} GC line(s) unreadable, left out: the figure is low)` : '';
      say(
        `${id} (${role}): ${perWrite ?? '-'} B allocated per write${note}; GCs per 1k writes ${JSON.stringify(gcs)}; ` +
          `pauses > ${LONG_PAUSE_MS} ms ${pauses.longPer1000Writes ?? '-'} per 1k writes, ${pauses.longMs} ms; ` +
          `all pauses ${pauses.allMs} ms`,
      );
      members.push({ id, role, bytesPerWrite: perWrite, unreadableGcLines: unreadable, gcsPer1000Writes: gcs, pauses });
    }
    return { a: coraftBin, clients, valueBytes, durationMs: Math.round(elapsed), writes, members };
  } finally {
    await cleanup.run(say);
    uninstall();
  }
}
