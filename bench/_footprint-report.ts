/**
 * The footprint bench's figures, and each one beside its goal from issue 17 with whether this
 * run meets it. Memory and sizes are in MiB. Pure; tested in test/bench/footprint-report.test.ts.
 */
import { cell, formatTable, mib, round } from './_figures.js';
import type { InstallSize } from './_install-size.js';
import type { StartupFigures } from './_startup.js';

/** Figures by member id. */
export type PerMember<T> = Readonly<Record<string, T>>;

/** The footprint under load of one system. */
export interface LoadFootprint {
  readonly clients: number;
  readonly valueBytes: number;
  readonly durationMs: number;
  readonly writes: number;
  readonly writesPerSecond: number;
  readonly rssPeakBytes: PerMember<number>;
  readonly rssAnonPeakBytes: PerMember<number>;
  /** RssAnon a while after the load stopped. */
  readonly rssAnonAfterBytes: PerMember<number | null>;
  /**
   * Bytes the data folder's block device wrote during the load (all processes: run on a quiet machine);
   * null when the folder is on no block device.
   */
  readonly deviceWriteBytes: number | null;
  /** deviceWriteBytes over the bytes of committed values (writes x value size). */
  readonly deviceWriteAmplification: number | null;
  /**
   * Bytes all members dirtied in the page cache during the load (write_bytes; a write into a large
   * page-cache folio counts the whole folio, bench/_proc.ts); null without task I/O accounting.
   */
  readonly writeBytes: number | null;
  /** writeBytes over the bytes of committed values (writes x value size). */
  readonly writeAmplification: number | null;
  /** Bytes all members handed to write calls during the load (wchar); null without task I/O accounting. */
  readonly writeCallBytes: number | null;
  /** writeCallBytes over the bytes of committed values. */
  readonly writeCallAmplification: number | null;
}

/** One system's footprint. */
export interface SystemFootprint {
  readonly startup: StartupFigures;
  /** Spawn to endpoint answering of an agent restarted on its data; null when not measured. */
  readonly restartAnsweredMs: number | null;
  readonly idleRssBytes: PerMember<number | null>;
  /** The anonymous part of idleRssBytes (RssAnon: V8's heap, malloc, buffers). */
  readonly idleRssAnonBytes: PerMember<number | null>;
  /** The file-backed part of idleRssBytes (RssFile: the executable's and libraries' pages, LMDB's map). */
  readonly idleRssFileBytes: PerMember<number | null>;
  /**
   * The part of idleRssFileBytes that is the executable's own pages (node's or etcd's binary):
   * file-backed, shared with every process running the same binary, and reclaimable by the kernel;
   * which of them are resident depends on what the runtime touched, not on the program's own data.
   */
  readonly idleRssExecutableBytes: PerMember<number | null>;
  readonly idleCpuPercent: PerMember<number | null>;
  readonly startupWriteBytes: PerMember<number | null>;
  readonly idleWriteBytes: PerMember<number | null>;
  readonly dataAfterStartupBytes: PerMember<number>;
  readonly load: LoadFootprint | null;
}

/** Everything the footprint bench found. */
export interface Footprint {
  readonly coraft: SystemFootprint;
  readonly etcd: SystemFootprint | null;
  readonly install: InstallSize | null;
  /** VmRSS of a bare `node` doing nothing, for scale. */
  readonly nodeBaselineRssBytes: number | null;
  /** MemoryHigh of the shipped systemd unit, bytes; null when it sets none. */
  readonly memoryHighBytes: number | null;
}

/** One line of the goals table. */
export interface GoalRow {
  readonly figure: string;
  readonly coraft: string;
  readonly etcd: string;
  readonly goal: string;
  /** Whether coraft meets the goal; null when there is no goal or nothing to judge it by. */
  readonly met: boolean | null;
}

/**
 * A systemd memory setting (`MemoryHigh=160M`, K/M/G/T powers of 1024, or a plain byte count) in bytes; null for none
 * or `infinity`.
 */
export function parseMemorySetting(unit: string, name: string): number | null {
  const match = new RegExp(`^\\s*${name}=(\\S+)\\s*$`, 'm').exec(unit);
  const text = match?.[1];
  if (text === undefined || text === 'infinity') return null;
  const parsed = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(text);
  if (parsed?.[1] === undefined) return null;
  const power = ['', 'K', 'M', 'G', 'T'].indexOf(parsed[2] ?? '');
  return Math.round(Number(parsed[1]) * 1024 ** power);
}

const values = <T>(m: PerMember<T> | undefined): T[] => (m === undefined ? [] : Object.values(m));
/** The largest non-null figure; null when there is none. */
export function worst(m: PerMember<number | null> | undefined): number | null {
  const known = values(m).filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.max(...known);
}
const list = (m: PerMember<number | null> | undefined, f: (v: number) => number = (v) => v): string =>
  m === undefined
    ? '-'
    : values(m)
        .map((v) => cell(v === null ? null : f(v)))
        .join(' / ');
const atMost = (v: number | null, limit: number | null): boolean | null =>
  v === null || limit === null ? null : v <= limit;

const MB = 2 ** 20;

/** The rows of the goals table. */
export function goalRows(f: Footprint): GoalRow[] {
  return [...idleRows(f), ...loadRows(f)];
}

/** The idle RSS of each agent, and its anonymous and file-backed parts. */
function rssRows(f: Footprint): GoalRow[] {
  const c = f.coraft;
  const e = f.etcd;
  const mb = MB;
  return [
    {
      figure: 'idle RSS per agent, MiB',
      coraft: list(c.idleRssBytes, mib),
      etcd: list(e?.idleRssBytes, mib),
      goal: '<= 50',
      met: atMost(worst(c.idleRssBytes), 50 * mb),
    },
    {
      figure: '  of which anonymous (RssAnon), MiB',
      coraft: list(c.idleRssAnonBytes, mib),
      etcd: list(e?.idleRssAnonBytes, mib),
      goal: '',
      met: null,
    },
    {
      figure: '  of which file pages (RssFile), MiB',
      coraft: list(c.idleRssFileBytes, mib),
      etcd: list(e?.idleRssFileBytes, mib),
      goal: '',
      met: null,
    },
    {
      figure: '    of which the executable (node, etcd; shared, reclaimable), MiB',
      coraft: list(c.idleRssExecutableBytes, mib),
      etcd: list(e?.idleRssExecutableBytes, mib),
      goal: '',
      met: null,
    },
  ];
}

/** The rows of an idle cluster: memory, CPU, disk and start-up times. */
function idleRows(f: Footprint): GoalRow[] {
  const c = f.coraft;
  const e = f.etcd;
  const mb = MB;
  return [
    ...rssRows(f),
    {
      figure: 'idle CPU per agent, % of a core',
      coraft: list(c.idleCpuPercent),
      etcd: list(e?.idleCpuPercent),
      goal: "<= etcd's (busiest member)",
      met: atMost(worst(c.idleCpuPercent), worst(e?.idleCpuPercent)),
    },
    {
      figure: 'written at start-up per agent, MiB',
      coraft: list(c.startupWriteBytes, (v) => round(v / mb, 2)),
      etcd: list(e?.startupWriteBytes, (v) => round(v / mb, 2)),
      goal: '<= 2',
      met: atMost(worst(c.startupWriteBytes), 2 * mb),
    },
    {
      figure: 'written while idle per agent, bytes',
      coraft: list(c.idleWriteBytes),
      etcd: list(e?.idleWriteBytes),
      goal: '0',
      met: atMost(worst(c.idleWriteBytes), 0),
    },
    {
      figure: 'data folder after start-up, MiB',
      coraft: list(c.dataAfterStartupBytes, (v) => round(v / mb, 2)),
      etcd: list(e?.dataAfterStartupBytes, (v) => round(v / mb, 2)),
      goal: 'report',
      met: null,
    },
    {
      figure: 'fresh cluster: spawn to a known leader, ms',
      coraft: cell(c.startup.leaderKnownMs),
      etcd: cell(e?.startup.leaderKnownMs),
      goal: '<= 1000',
      met: atMost(c.startup.leaderKnownMs, 1000),
    },
    {
      figure: "agent's own start-up (spawn to endpoint answering), ms",
      coraft: list(c.startup.answeredMs),
      etcd: list(e?.startup.answeredMs),
      goal: '<= 300',
      met: atMost(worst(c.startup.answeredMs), 300),
    },
    {
      figure: 'agent restart on its data, spawn to endpoint answering, ms',
      coraft: cell(c.restartAnsweredMs),
      etcd: '-',
      goal: '<= 300',
      met: atMost(c.restartAnsweredMs, 300),
    },
  ];
}

/** Write amplification under load: bytes written over the bytes of committed values, three ways. */
function writeAmplificationRows(f: Footprint): GoalRow[] {
  const amp = (figure: number | null | undefined): string =>
    cell(figure === undefined || figure === null ? null : round(figure, 1));
  return [
    {
      figure: "write amplification under load (bytes the data folder's disk wrote / committed value bytes)",
      coraft: amp(f.coraft.load?.deviceWriteAmplification),
      etcd: amp(f.etcd?.load?.deviceWriteAmplification),
      goal: 'report (whole device: quiet machine)',
      met: null,
    },
    {
      // Linux 6.16+ on ext4: a write into a large page-cache folio counts the whole folio (bench/_proc.ts).
      figure: '  the same from page-cache bytes dirtied (write_bytes: a large folio counts whole)',
      coraft: amp(f.coraft.load?.writeAmplification),
      etcd: amp(f.etcd?.load?.writeAmplification),
      goal: 'report',
      met: null,
    },
    {
      // etcd writes its client and peer traffic (TCP) with write calls too: its wchar is no figure of its disk.
      figure: '  the same from bytes handed to write calls (coraft: files and log lines; not etcd: TCP too)',
      coraft: amp(f.coraft.load?.writeCallAmplification),
      etcd: '-',
      goal: 'report',
      met: null,
    },
  ];
}

/** The rows of a cluster under load, and of the install. */
function loadRows(f: Footprint): GoalRow[] {
  const c = f.coraft;
  const e = f.etcd;
  const mb = MB;
  const high = f.memoryHighBytes;
  const load = c.load;
  // The peak is judged on RssAnon, the memory the agent itself holds (V8's heap, malloc, buffers):
  // VmRSS also counts LMDB's mapped file pages (RssFile), page cache the kernel drops under the
  // unit's MemoryHigh rather than throttle the agent, so they are reported, not judged.
  const peakAnon = worst(load?.rssAnonPeakBytes);
  return [
    {
      figure: `peak RssAnon under ${load?.clients ?? '-'} clients (the agent's own memory), MiB`,
      coraft: list(load?.rssAnonPeakBytes, mib),
      etcd: list(e?.load?.rssAnonPeakBytes, mib),
      goal: `<= 90${high === null ? '' : ` and < MemoryHigh ${mib(high)}`}`,
      met: peakAnon === null ? null : peakAnon <= 90 * mb && (high === null || peakAnon < high),
    },
    {
      figure: `peak RSS under ${load?.clients ?? '-'} clients (VmRSS: with LMDB's mapped file pages), MiB`,
      coraft: list(load?.rssPeakBytes, mib),
      etcd: list(e?.load?.rssPeakBytes, mib),
      goal: 'report (file pages are reclaimable)',
      met: null,
    },
    {
      figure: 'RssAnon after the load stopped, MiB',
      coraft: list(load?.rssAnonAfterBytes, mib),
      etcd: list(e?.load?.rssAnonAfterBytes, mib),
      goal: 'report (should fall back)',
      met: null,
    },
    ...writeAmplificationRows(f),
    {
      figure: 'production install (npm pack, install --omit=dev), MiB',
      coraft: f.install === null ? '-' : cell(mib(f.install.installedBytes)),
      etcd: '-',
      goal: '<= 20',
      met: f.install === null ? null : f.install.installedBytes <= 20 * mb,
    },
    {
      figure: 'bare node process RSS, MiB (for scale)',
      coraft: f.nodeBaselineRssBytes === null ? '-' : cell(mib(f.nodeBaselineRssBytes)),
      etcd: '-',
      goal: '-',
      met: null,
    },
  ];
}

/** The goals table as text. */
export function goalsTable(rows: readonly GoalRow[]): string {
  const met = (m: boolean | null): string => (m === null ? '' : m ? 'yes' : 'NO');
  return formatTable(
    ['figure', 'coraft', 'etcd', 'goal', 'met'],
    rows.map((r) => [r.figure, r.coraft, r.etcd, r.goal, met(r.met)]),
    [0, 1, 2, 3],
  );
}
