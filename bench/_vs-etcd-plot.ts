/**
 * The suite report's part for the vs-etcd bench: its figures read back from the bench's JSON
 * (it runs in a child process), two SVG plots by number of clients (writes per second, and p99
 * latency; solid coraft, dashed etcd, one colour per value size) and a Markdown table with the
 * coraft/etcd ratios. Pure; tested in test/bench/vs-etcd-plot.test.ts.
 */
import { renderLinePlot } from './_svg-plot.js';
import type { PlotSeries } from './_svg-plot.js';
import { cell, ratio, sizeName } from './_figures.js';

/** One system at one load point, as plotted. */
export interface VsPlotPoint {
  readonly system: 'coraft' | 'etcd';
  readonly clients: number;
  readonly valueBytes: number;
  readonly writesPerSecond: number;
  readonly p99Ms: number;
}

const num = (o: unknown, name: string): number | null => {
  const v: unknown = typeof o === 'object' && o !== null ? Reflect.get(o, name) : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** The plotted figures in the JSON of a vs-etcd run (its `points`); points of another shape are left out. */
export function vsPlotPoints(figures: unknown): VsPlotPoint[] {
  const points: unknown = typeof figures === 'object' && figures !== null ? Reflect.get(figures, 'points') : undefined;
  if (!Array.isArray(points)) return [];
  const list: readonly unknown[] = points;
  const out: VsPlotPoint[] = [];
  for (const p of list) {
    const clients = num(p, 'clients');
    const valueBytes = num(p, 'valueBytes');
    if (clients === null || valueBytes === null) continue;
    for (const system of ['coraft', 'etcd'] as const) {
      const f: unknown = typeof p === 'object' && p !== null ? Reflect.get(p, system) : undefined;
      const writesPerSecond = num(f, 'writesPerSecond');
      const p99Ms = num(f, 'p99Ms');
      if (writesPerSecond !== null && p99Ms !== null) out.push({ system, clients, valueBytes, writesPerSecond, p99Ms });
    }
  }
  return out;
}

function series(points: readonly VsPlotPoint[], pick: (p: VsPlotPoint) => number): PlotSeries[] {
  const sizes = [...new Set(points.map((p) => p.valueBytes))].sort((a, b) => a - b);
  return sizes.flatMap((size, i) =>
    (['coraft', 'etcd'] as const)
      .map((system) => ({
        name: `${system}, ${sizeName(size)}`,
        colour: i,
        dashed: system === 'etcd',
        points: points
          .filter((p) => p.system === system && p.valueBytes === size)
          .sort((a, b) => a.clients - b.clients)
          .map((p) => ({ x: p.clients, y: pick(p) })),
      }))
      .filter((s) => s.points.length > 0),
  );
}

/** The two plots, as SVG documents. */
export function renderVsEtcdPlots(points: readonly VsPlotPoint[]): {
  readonly throughput: string;
  readonly p99: string;
} {
  return {
    throughput: renderLinePlot({
      title: 'coraft (solid) vs etcd (dashed): acknowledged writes per second',
      xLabel: 'closed-loop clients on the leader (log)',
      yLabel: 'writes/s (log)',
      series: series(points, (p) => p.writesPerSecond),
      logX: true,
      logY: true,
    }),
    p99: renderLinePlot({
      title: 'coraft (solid) vs etcd (dashed): p99 write latency',
      xLabel: 'closed-loop clients on the leader (log)',
      yLabel: 'p99 latency, ms (log)',
      series: series(points, (p) => p.p99Ms),
      logX: true,
      logY: true,
    }),
  };
}

/** The report's section: both plots and one table row per load point. */
export function vsEtcdSection(
  points: readonly VsPlotPoint[],
  files: { readonly throughput: string; readonly p99: string },
): string[] {
  const loads = [...new Map(points.map((p) => [`${p.valueBytes}/${p.clients}`, p])).values()].sort(
    (a, b) => a.valueBytes - b.valueBytes || a.clients - b.clients,
  );
  const find = (system: string, p: VsPlotPoint): VsPlotPoint | undefined =>
    points.find((q) => q.system === system && q.clients === p.clients && q.valueBytes === p.valueBytes);
  return [
    '## coraft beside etcd (vs-etcd, same run, same machine)',
    '',
    `![writes per second by clients](${files.throughput})`,
    `![p99 latency by clients](${files.p99})`,
    '',
    '| clients | value | coraft writes/s | etcd writes/s | ratio | coraft p99 ms | etcd p99 ms | p99 ratio |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...loads.map((p) => {
      const c = find('coraft', p);
      const e = find('etcd', p);
      return (
        `| ${p.clients} | ${sizeName(p.valueBytes)} | ${cell(c?.writesPerSecond)} ` +
        `| ${cell(e?.writesPerSecond)} | ${cell(ratio(c?.writesPerSecond, e?.writesPerSecond))} ` +
        `| ${cell(c?.p99Ms)} | ${cell(e?.p99Ms)} | ${cell(ratio(c?.p99Ms, e?.p99Ms))} |`
      );
    }),
    '',
  ];
}
