/**
 * A follower that catches up by InstallSnapshot on a store written full, and then restarts on it:
 * its peak anonymous memory against the unit's MemoryHigh and MemoryMax (issue 17; deploy/README.md
 * gives the figures for 32, 48 and 64 MiB stores).
 *
 *   npm run bench -- snapshot-install [--json] [--store-mib=64] [--value-bytes=65536] [--overwrite=2500]
 *                                     [--writers=16] [--runs=1]
 *
 * Each run: a fresh 3-agent cluster of this checkout, under the shipped unit's Node flags
 * (AgentProcesses), is written to `--store-mib` MiB of values of `--value-bytes` by `--writers`
 * closed-loop writers on the leader; every member's RssAnon is sampled every 50 ms meanwhile (its
 * peak while written full). One follower is stopped (SIGTERM); `--overwrite` more writes over the
 * same keys move the log past it, so that when it starts again it needs the leader's snapshot. Its
 * RssAnon is sampled every 50 ms from its start until 3 s after it applied what the leader applied:
 * that peak covers its restart on its old data, the transfer and the restore. Then it is SIGKILLed
 * and started once more, and its RssAnon is sampled for 8 s: a restart on the restored store.
 * Printed per run: the members' peaks while written full and RssAnon after the writes, both peaks
 * of the follower, the time to catch up, and the snapshot's size (its log line "restored a
 * snapshot from the leader").
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { intOption, mib, round } from './_figures.js';
import { readProcess } from './_proc.js';
import { sleep } from './_system.js';

const SAMPLE_MS = 50;
const SETTLE_MS = 3000;
const RESTART_WATCH_MS = 8000;
const CATCH_UP_BOUND_MS = 120_000;

interface RunFigures {
  /** Each member's peak RssAnon while the store was written full, MiB. */
  readonly fillPeakAnonMib: readonly number[];
  readonly restAnonMib: readonly number[];
  readonly installPeakAnonMib: number;
  readonly catchUpMs: number;
  readonly snapshotBytes: number | null;
  readonly restartPeakAnonMib: number;
}

/** `count` writes of `value` over keys key-0..key-(keys-1), from `writers` closed loops; returns those refused. */
async function write(client: EndpointClient, value: Uint8Array, keys: number, count: number, writers: number) {
  let next = 0;
  let refused = 0;
  const loop = async (): Promise<void> => {
    while (next < count) {
      const key = `key-${next % keys}`;
      next += 1;
      const response = await client.request({ method: 'PUT', path: ['kv', key], payload: value });
      if (response.code >> 5 !== 2) refused += 1;
    }
  };
  await Promise.all(Array.from({ length: writers }, loop));
  return refused;
}

/** The highest RssAnon of each of `pids` while `until` says go on, sampled every SAMPLE_MS; MiB. */
async function peaksAnonMib(pids: readonly number[], until: () => Promise<boolean>): Promise<number[]> {
  const peaks = pids.map(() => 0);
  for (;;) {
    const samples = pids.map((pid) => readProcess(pid));
    if (samples.every((sample) => sample === null)) break;
    samples.forEach((sample, i) => (peaks[i] = Math.max(peaks[i] ?? 0, sample?.rssAnonBytes ?? 0)));
    if (!(await until())) break;
    await sleep(SAMPLE_MS);
  }
  return peaks.map(mib);
}

/** The highest RssAnon of `pid` while `until` says go on; MiB. */
async function peakAnonMib(pid: number, until: () => Promise<boolean>): Promise<number> {
  const [peak] = await peaksAnonMib([pid], until);
  return peak ?? 0;
}

async function oneRun(args: readonly string[], log: string): Promise<RunFigures> {
  const storeMib = intOption(args, 'store-mib', 64, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 65536, 1024, 1024 * 1024);
  const writers = intOption(args, 'writers', 16, 1, 256);
  const keys = Math.floor((storeMib * 1024 * 1024) / valueBytes);
  const cluster = await AgentProcesses.create({
    nodes: 3,
    output: (id, chunk) => appendFileSync(`${log}.${id}`, chunk),
  });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader(20_000);
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) ?? 'n2';
    const client = new EndpointClient(endpointTarget(cluster.agent(leader).init.endpoint, 20_000));
    const value = new Uint8Array(valueBytes).fill(0x61);
    const pids = ['n1', 'n2', 'n3'].map((id) => cluster.agent(id).process?.pid ?? 0);
    let writing = true;
    const fillPeaks = peaksAnonMib(pids, () => Promise.resolve(writing));
    await write(client, value, keys, keys, writers).finally(() => (writing = false));
    const fillPeakAnonMib = await fillPeaks;
    const restAnonMib = pids.map((pid) => mib(readProcess(pid)?.rssAnonBytes ?? 0));
    await cluster.signal(follower, 'SIGTERM');
    await write(client, value, keys, intOption(args, 'overwrite', 2500, 1, 1_000_000), writers);
    await client.close();
    const started = Date.now();
    cluster.start(follower);
    let caughtUpAt: number | null = null;
    const installPeakAnonMib = await peakAnonMib(cluster.agent(follower).process?.pid ?? 0, async () => {
      const [mine, theirs] = [await cluster.status(follower), await cluster.status(leader)];
      if (caughtUpAt === null && mine !== null && theirs !== null && mine.lastApplied >= theirs.lastApplied)
        caughtUpAt = Date.now();
      if (Date.now() - started > CATCH_UP_BOUND_MS) throw new Error(`${follower} did not catch up`);
      return caughtUpAt === null || Date.now() - caughtUpAt < SETTLE_MS;
    });
    await cluster.signal(follower, 'SIGKILL');
    const restarted = Date.now();
    cluster.start(follower);
    const restartPeakAnonMib = await peakAnonMib(cluster.agent(follower).process?.pid ?? 0, () =>
      Promise.resolve(Date.now() - restarted < RESTART_WATCH_MS),
    );
    const restored = /"index":\d+,"bytes":(\d+),"msg":"restored a snapshot from the leader"/.exec(
      readFileSync(`${log}.${follower}`, 'utf8'),
    );
    return {
      fillPeakAnonMib,
      restAnonMib,
      installPeakAnonMib,
      catchUpMs: (caughtUpAt ?? Date.now()) - started,
      snapshotBytes: restored === null ? null : Number(restored[1]),
      restartPeakAnonMib,
    };
  } finally {
    await cluster.close();
  }
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const runs = intOption(args, 'runs', 1, 1, 20);
  const dir = mkdtempSync(join(tmpdir(), 'coraft-snapshot-install-'));
  const figures: RunFigures[] = [];
  try {
    for (let i = 0; i < runs; i += 1) {
      const result = await oneRun(args, join(dir, `run${i}`));
      figures.push(result);
      process.stdout.write(
        `run ${i + 1}: peak while written full ${result.fillPeakAnonMib.map((m) => round(m, 1)).join(' / ')} MiB; ` +
          `at rest after the writes ${result.restAnonMib.map((m) => round(m, 1)).join(' / ')} MiB; ` +
          `follower restoring the leader's snapshot (${result.snapshotBytes ?? '?'} bytes) peaked at ` +
          `${round(result.installPeakAnonMib, 1)} MiB RssAnon, caught up in ${result.catchUpMs} ms; ` +
          `restarted on it (SIGKILL): peak ${round(result.restartPeakAnonMib, 1)} MiB\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { runs: figures };
}
