/**
 * The memory-bounded soak of issue 17 (not part of npm test; bounded by --minutes):
 *
 *   npm run soak -- [--minutes=10] [--clients=64] [--value-bytes=256] [--heap-mib=64]
 *                   [--warmup-minutes=2] [--sample-ms=5000] [--json]
 *
 * A fresh 3-agent coraft cluster (the defaults: coaps, cbor, WAL), each agent with the shipped
 * unit's flags and its V8 old generation bounded to --heap-mib, under --clients closed-loop
 * writers of --value-bytes values on the leader for --minutes. Every agent's VmRSS and RssAnon
 * are sampled every --sample-ms. Reported per agent: peak RSS and RssAnon, RssAnon after
 * warm-up and at the end, and its least-squares slope after warm-up (bench/_soak-analysis.ts).
 * Exits non-zero when an agent ran out of heap or died, or when one's RssAnon grew after warm-up
 * by more than the leak bound.
 */
import { LoadAccumulator, loadFigures, runSlice } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { formatTable, intOption, mib, round } from './_figures.js';
import { readProcess } from './_proc.js';
import { LEAK_GROWTH_BYTES_MIN, LEAK_GROWTH_SHARE, isOutOfMemory, soakFigures } from './_soak-analysis.js';
import type { SoakMemberFigures, SoakSample } from './_soak-analysis.js';

const OUTPUT_KEPT_CHARS = 64 * 1024;
/** How much of a dead agent's last output the report shows. */
const OUTPUT_SHOWN_CHARS = 4 * 1024;

/** Samples every member every `everyMs` until stopped; notes members that died (no or another pid). */
function sampler(system: CoraftSystem, everyMs: number) {
  const samples = new Map<string, SoakSample[]>();
  const pids = new Map(system.members().map((m) => [m.id, m.pid]));
  const died = new Set<string>();
  const started = performance.now();
  const sample = (): void => {
    for (const m of system.members()) {
      const s = m.pid === null ? null : readProcess(m.pid);
      if (s === null || m.pid !== pids.get(m.id)) {
        died.add(m.id);
        continue;
      }
      const list = samples.get(m.id) ?? [];
      list.push({ atMs: performance.now() - started, rssBytes: s.rssBytes, rssAnonBytes: s.rssAnonBytes });
      samples.set(m.id, list);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    samples,
    died,
    stop: (): void => {
      clearInterval(timer);
      sample();
    },
  };
}

const mibOrDash = (bytes: number | null): string => (bytes === null ? '-' : String(round(mib(bytes), 1)));

/** The per-agent table. */
function report(
  figures: ReadonlyMap<string, SoakMemberFigures>,
  oom: ReadonlySet<string>,
  died: ReadonlySet<string>,
): string {
  const rows = [...figures].map(([id, f]) => [
    id,
    mibOrDash(f.rssPeakBytes),
    mibOrDash(f.rssAnonPeakBytes),
    mibOrDash(f.rssAnonAfterWarmupBytes),
    mibOrDash(f.rssAnonEndBytes),
    f.rssAnonSlopeBytesPerMinute === null ? '-' : String(round(mib(f.rssAnonSlopeBytesPerMinute), 3)),
    oom.has(id) ? 'OOM' : died.has(id) ? 'died' : 'ok',
    f.leak ? 'LEAK' : 'flat',
  ]);
  const header = ['agent', 'peak RSS MiB', 'peak RssAnon', 'anon after warm-up', 'anon at end', 'slope MiB/min'];
  return formatTable([...header, 'exit', 'memory'], rows);
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const minutes = intOption(args, 'minutes', 10, 1, 24 * 60);
  const clients = intOption(args, 'clients', 64, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 64 * 1024);
  const heapMiB = intOption(args, 'heap-mib', 64, 16, 4096);
  const warmupMs = 60_000 * intOption(args, 'warmup-minutes', Math.min(2, minutes - 1), 0, minutes);
  const sampleMs = intOption(args, 'sample-ms', 5_000, 250, 60_000);
  const output = new Map<string, string>();
  const system = await CoraftSystem.create({
    requestTimeoutMs: 10_000,
    nodeArgs: [`--max-old-space-size=${heapMiB}`],
    onOutput: (id, chunk) => output.set(id, `${output.get(id) ?? ''}${chunk}`.slice(-OUTPUT_KEPT_CHARS)),
  });
  try {
    await system.start();
    await system.leader(30_000);
    process.stdout.write(
      `soak: ${clients} clients x ${valueBytes} B for ${minutes} min, heap bound ${heapMiB} MiB, ` +
        `warm-up ${warmupMs / 60_000} min, a sample every ${sampleMs} ms\n`,
    );
    const acc = new LoadAccumulator(clients, valueBytes);
    const sampling = sampler(system, sampleMs);
    await runSlice(system, acc, { durationMs: minutes * 60_000, warmupMs: 1_000, settleBoundMs: 30_000 });
    sampling.stop();
    const load = loadFigures(acc);
    const figures = new Map([...sampling.samples].map(([id, s]) => [id, soakFigures(s, warmupMs)]));
    const oom = new Set([...output].filter(([, text]) => isOutOfMemory(text)).map(([id]) => id));
    process.stdout.write(`${report(figures, oom, sampling.died)}\n`);
    const leaks = [...figures].filter(([, f]) => f.leak).map(([id]) => id);
    process.stdout.write(
      `writes ${load.writes} (${round(load.writesPerSecond, 0)}/s), refused ${acc.errors}; ` +
        `leak bound: growth after warm-up over ${mib(LEAK_GROWTH_BYTES_MIN)} MiB and ${100 * LEAK_GROWTH_SHARE}%\n`,
    );
    const failed = oom.size > 0 || sampling.died.size > 0 || leaks.length > 0;
    for (const id of new Set([...oom, ...sampling.died]))
      process.stdout.write(`--- last output of ${id}:\n${(output.get(id) ?? '').slice(-OUTPUT_SHOWN_CHARS)}\n`);
    if (failed) {
      process.stdout.write(
        `soak FAILED: OOM [${[...oom].join(' ')}], died [${[...sampling.died].join(' ')}], ` +
          `leak [${leaks.join(' ')}]\n`,
      );
      process.exitCode = 1;
    } else process.stdout.write('soak passed: no OOM, no agent died, RssAnon flat after warm-up\n');
    return {
      minutes,
      clients,
      valueBytes,
      heapMiB,
      warmupMs,
      writes: load.writes,
      writesPerSecond: load.writesPerSecond,
      refused: acc.errors,
      members: Object.fromEntries(figures),
      oom: [...oom],
      died: [...sampling.died],
      leaks,
      passed: !failed,
    };
  } finally {
    await system.close();
  }
}
