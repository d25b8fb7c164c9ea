/**
 * The memory-bounded soak of issue 17 (not part of npm test; bounded by --minutes):
 *
 *   npm run soak -- [--minutes=10] [--clients=64] [--value-bytes=256] [--heap-mib=64]
 *                   [--warmup-minutes=5] [--sample-ms=1000] [--leak-kib-per-minute=1024] [--json]
 *
 * A fresh 3-agent coraft cluster (the defaults: coaps, cbor, WAL), each agent with the shipped
 * unit's Node flags and malloc settings (agent/cli/agent-processes.ts gives it the unit's
 * environment, NODE_OPTIONS included) and its V8 old generation bounded to --heap-mib, under --clients
 * closed-loop writers of --value-bytes values on the leader for --minutes. Every agent's VmRSS,
 * RssAnon, RssFile and LMDB's resident map pages are sampled every --sample-ms. Reported per
 * agent: peaks, RssAnon after warm-up and at the end, its least-squares slope after warm-up with
 * its 95% confidence interval (reported), and its medians over the middle and the last third of
 * the window after warm-up (judged, bench/_soak-analysis.ts says why). Exits non-zero when an
 * agent ran out of heap or died, or when one's last-third median exceeds its middle-third median
 * by more than --leak-kib-per-minute times a third of the window (RssAnon not flat). With --json
 * the figures include every sample.
 */
import { LoadAccumulator, loadFigures, runSlice } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { formatTable, intOption, mib, round } from './_figures.js';
import { mappedFileBytes, readProcess } from './_proc.js';
import { LEAK_SLOPE_BYTES_PER_MINUTE, isOutOfMemory, soakFigures } from './_soak-analysis.js';
import type { SoakMemberFigures, SoakSample } from './_soak-analysis.js';

const OUTPUT_KEPT_CHARS = 64 * 1024;
/**
 * A sample a second: the verdict's median of a third (100 samples in a 10-minute soak) then
 * follows V8's sawtooth by a fraction of a MiB (test/bench/soak-analysis.test.ts states how much);
 * reading /proc/PID/status of three agents a second costs next to nothing.
 */
const SAMPLE_MS_DEFAULT = 1_000;
/**
 * LMDB's resident map pages are read from /proc/PID/smaps, which took 13 ms a read on the loaded
 * machine (and walks the agent's page tables), so at most every 5 s: a side figure, not judged.
 */
const LMDB_SAMPLE_MS = 5_000;
/** How much of a dead agent's last output the report shows. */
const OUTPUT_SHOWN_CHARS = 4 * 1024;

/** Samples every member every `everyMs` until stopped; notes members that died (no or another pid). */
function sampler(system: CoraftSystem, everyMs: number) {
  const samples = new Map<string, SoakSample[]>();
  const lmdbPeaks = new Map<string, number>();
  const pids = new Map(system.members().map((m) => [m.id, m.pid]));
  const died = new Set<string>();
  const started = performance.now();
  let count = 0;
  const lmdbEvery = Math.max(1, Math.round(LMDB_SAMPLE_MS / everyMs));
  const sample = (): void => {
    count += 1;
    for (const m of system.members()) {
      const pid = m.pid;
      const s = pid === null ? null : readProcess(pid);
      if (pid === null || s === null || pid !== pids.get(m.id)) {
        died.add(m.id);
        continue;
      }
      const list = samples.get(m.id) ?? [];
      const atMs = performance.now() - started;
      list.push({ atMs, rssBytes: s.rssBytes, rssAnonBytes: s.rssAnonBytes, rssFileBytes: s.rssFileBytes });
      samples.set(m.id, list);
      if (count % lmdbEvery === 1 || lmdbEvery === 1)
        lmdbPeaks.set(m.id, Math.max(lmdbPeaks.get(m.id) ?? 0, mappedFileBytes(pid, '.mdb') ?? 0));
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    samples,
    lmdbPeaks,
    died,
    stop: (): void => {
      clearInterval(timer);
      sample();
    },
  };
}

const mibOrDash = (bytes: number | null): string => (bytes === null ? '-' : String(round(mib(bytes), 1)));

/** A slope in MiB a minute with its 95% interval. */
function slopeText(f: SoakMemberFigures): string {
  const { rssAnonSlopeBytesPerMinute: s, rssAnonSlopeLowBytesPerMinute: low, rssAnonSlopeHighBytesPerMinute: high } = f;
  if (s === null || low === null || high === null) return '-';
  return `${round(mib(s), 2)} [${round(mib(low), 2)}, ${round(mib(high), 2)}]`;
}

/** The medians of the middle and the last third after warm-up, and the rise the bound allows. */
function thirdsText(f: SoakMemberFigures): string {
  const { rssAnonMiddleMedianBytes: middle, rssAnonLastMedianBytes: last, allowedRiseBytes: allowed } = f;
  if (middle === null || last === null || allowed === null) return '-';
  return `${mibOrDash(middle)} -> ${mibOrDash(last)} (<= +${round(mib(allowed), 2)})`;
}

/** The per-agent table. */
function report(
  figures: ReadonlyMap<string, SoakMemberFigures>,
  lmdbPeaks: ReadonlyMap<string, number>,
  oom: ReadonlySet<string>,
  died: ReadonlySet<string>,
): string {
  const rows = [...figures].map(([id, f]) => [
    id,
    mibOrDash(f.rssPeakBytes),
    mibOrDash(f.rssAnonPeakBytes),
    mibOrDash(f.rssFilePeakBytes),
    mibOrDash(lmdbPeaks.get(id) ?? null),
    mibOrDash(f.rssAnonAfterWarmupBytes),
    mibOrDash(f.rssAnonEndBytes),
    slopeText(f),
    thirdsText(f),
    oom.has(id) ? 'OOM' : died.has(id) ? 'died' : 'ok',
    f.leak ? 'LEAK' : 'flat',
  ]);
  const header = ['agent', 'peak RSS MiB', 'peak RssAnon', 'peak RssFile', 'peak LMDB pages', 'anon after warm-up'];
  const judged = 'anon median, middle -> last third';
  return formatTable([...header, 'anon at end', 'anon slope MiB/min [95%]', judged, 'exit', 'memory'], rows);
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const minutes = intOption(args, 'minutes', 10, 1, 24 * 60);
  const clients = intOption(args, 'clients', 64, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 64 * 1024);
  const heapMiB = intOption(args, 'heap-mib', 64, 16, 4096);
  // Followers settle later than the leader: at 550 writes/s a follower's malloc heap grew for about
  // five minutes (21 -> 34 MiB, a snapshot a minute) before it held still, so the default warm-up is
  // five minutes, or half of a shorter soak.
  const warmupMs = 60_000 * intOption(args, 'warmup-minutes', Math.min(5, Math.floor(minutes / 2)), 0, minutes);
  const sampleMs = intOption(args, 'sample-ms', SAMPLE_MS_DEFAULT, 250, 60_000);
  const leakBound = 1024 * intOption(args, 'leak-kib-per-minute', LEAK_SLOPE_BYTES_PER_MINUTE / 1024, 1, 1024 * 1024);
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
    const figures = new Map([...sampling.samples].map(([id, s]) => [id, soakFigures(s, warmupMs, leakBound)]));
    const oom = new Set([...output].filter(([, text]) => isOutOfMemory(text)).map(([id]) => id));
    process.stdout.write(`${report(figures, sampling.lmdbPeaks, oom, sampling.died)}\n`);
    const leaks = [...figures].filter(([, f]) => f.leak).map(([id]) => id);
    process.stdout.write(
      `writes ${load.writes} (${round(load.writesPerSecond, 0)}/s), refused ${acc.errors}; ` +
        `leak check: flat when RssAnon's median over the last third after warm-up is at most ` +
        `${round(mib(leakBound), 3)} MiB/min x a third above the middle third's\n`,
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
      leakBoundBytesPerMinute: leakBound,
      writes: load.writes,
      writesPerSecond: load.writesPerSecond,
      refused: acc.errors,
      members: Object.fromEntries(figures),
      samples: Object.fromEntries(sampling.samples),
      lmdbPeakBytes: Object.fromEntries(sampling.lmdbPeaks),
      oom: [...oom],
      died: [...sampling.died],
      leaks,
      passed: !failed,
    };
  } finally {
    await system.close();
  }
}
