/**
 * The vs-etcd bench's figures and how they are shown: coraft/etcd ratios per load point and the
 * plain-text tables printed at the end of a run. Pure; tested in test/bench/vs-etcd-report.test.ts.
 */
import { cell, formatTable, mib, ratio, sizeName } from './_figures.js';
import type { LoadFigures } from './_closed-loop.js';

/** coraft over etcd at one load point; null where etcd was not measured or measured nothing. */
export interface VsRatios {
  /** Writes per second: above 1 means coraft is faster. */
  readonly writesPerSecond: number | null;
  /** p99 latency: below 1 means coraft's tail is shorter. */
  readonly p99: number | null;
  /** CPU per committed write, all members: below 1 means coraft spends less. */
  readonly cpuPerWrite: number | null;
}

/** One load point, both systems. */
export interface VsPoint {
  readonly clients: number;
  readonly valueBytes: number;
  readonly coraft: LoadFigures;
  readonly etcd: LoadFigures | null;
  readonly ratios: VsRatios;
}

/** coraft over etcd. */
export function vsRatios(coraft: LoadFigures, etcd: LoadFigures | null): VsRatios {
  return {
    writesPerSecond: ratio(coraft.writesPerSecond, etcd?.writesPerSecond),
    p99: ratio(coraft.p99Ms, etcd?.p99Ms),
    cpuPerWrite: ratio(coraft.cpuSecondsPer1000Writes, etcd?.cpuSecondsPer1000Writes),
  };
}

const perMember = (f: LoadFigures, pick: (m: LoadFigures['members'][number]) => number | null): string =>
  f.members.map((m) => cell(pick(m))).join('/');

/** One row per system and load point. */
export function figuresTable(points: readonly VsPoint[]): string {
  const headers = [
    'load',
    'system',
    'writes/s',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'CPU s/1k writes',
    'per member',
    'peak RSS MiB',
    'peak anon MiB',
    'snap sends',
    'errors',
  ];
  const systems = (p: VsPoint): { name: string; f: LoadFigures }[] => [
    { name: 'coraft', f: p.coraft },
    ...(p.etcd === null ? [] : [{ name: 'etcd', f: p.etcd }]),
  ];
  const rows = points.flatMap((p) =>
    systems(p).map(({ name, f }) => [
      `${p.clients} x ${sizeName(p.valueBytes)}`,
      name,
      cell(f.writesPerSecond),
      cell(f.p50Ms),
      cell(f.p99Ms),
      cell(f.p999Ms),
      cell(f.cpuSecondsPer1000Writes),
      perMember(f, (m) => m.cpuSecondsPer1000Writes),
      perMember(f, (m) => mib(m.rssPeakBytes)),
      perMember(f, (m) => mib(m.rssAnonPeakBytes)),
      cell(f.snapshotSends),
      cell(f.errors),
    ]),
  );
  return formatTable(headers, rows, [0, 1]);
}

/** One row per load point: the coraft/etcd ratios, with issue 16's goal beside each. */
export function ratiosTable(points: readonly VsPoint[]): string {
  const headers = ['load', 'writes/s ratio', 'p99 ratio', 'CPU/write ratio', 'goal (writes/s; p99; CPU)'];
  const goal = (p: VsPoint): string => `${p.clients >= 64 ? '>= 1.2' : '>= 1.0'}; <= 1; <= 1`;
  const rows = points
    .filter((p) => p.etcd !== null)
    .map((p) => [
      `${p.clients} x ${sizeName(p.valueBytes)}`,
      cell(p.ratios.writesPerSecond),
      cell(p.ratios.p99),
      cell(p.ratios.cpuPerWrite),
      goal(p),
    ]);
  return formatTable(headers, rows, [0, 4]);
}

/** The load points of a grid, in the order they are run: by value size, then clients; `skip` left out. */
export function gridPoints(
  clients: readonly number[],
  values: readonly number[],
  skip: (c: number, v: number) => boolean,
): { run: { clients: number; valueBytes: number }[]; skipped: string[] } {
  const run: { clients: number; valueBytes: number }[] = [];
  const skipped: string[] = [];
  for (const valueBytes of values) {
    for (const c of clients) {
      if (skip(c, valueBytes)) skipped.push(`${c} x ${sizeName(valueBytes)}`);
      else run.push({ clients: c, valueBytes });
    }
  }
  return { run, skipped };
}

/**
 * Which system goes first in slice `slice` of point `point`: the order alternates, ABBA, so drift over time hits both
 * alike.
 */
export function sliceOrder(point: number, slice: number): readonly ['coraft', 'etcd'] | readonly ['etcd', 'coraft'] {
  return (point + slice) % 2 === 0 ? (['coraft', 'etcd'] as const) : (['etcd', 'coraft'] as const);
}
