/**
 * The bench suite's report: the machine and versions a run was made on (so runs can be
 * compared), one SVG plot of latency against throughput per cluster configuration, and a short
 * Markdown report with the headline figures, every setting and links to the plots.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem, release, version as osVersion } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterConfig, FailoverFigures, LoadPoint } from './_load.js';
import type { MicroResult } from './_micro.js';
import { renderLinePlot } from './_svg-plot.js';
import type { PlotSeries } from './_svg-plot.js';

/** The machine a run was made on. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly kernel: string;
  readonly os: string;
}

/** The software a run was made with. */
export interface Versions {
  readonly node: string;
  readonly coraft: string;
  readonly gitCommit: string;
  readonly gitDirty: boolean;
}

/** One cluster configuration's measured points. */
export interface LoadResult {
  readonly config: ClusterConfig;
  readonly points: readonly LoadPoint[];
}

/** Everything a suite run found. */
export interface SuiteResults {
  readonly startedAt: string;
  readonly mode: 'quick' | 'default' | 'full';
  readonly machine: MachineInfo;
  readonly versions: Versions;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly micro: readonly MicroResult[];
  readonly load: readonly LoadResult[];
  readonly failover: FailoverFigures | null;
  readonly notes: readonly string[];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function machineInfo(): MachineInfo {
  const gib = (bytes: number): number => Math.round((bytes / 2 ** 30) * 10) / 10;
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: gib(totalmem()),
    freeMemoryGiB: gib(freemem()),
    kernel: release(),
    os: osVersion(),
  };
}

function git(args: readonly string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function versions(): Versions {
  const pkg: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const coraft = typeof pkg === 'object' && pkg !== null ? String(Reflect.get(pkg, 'version')) : 'unknown';
  return {
    node: process.version,
    coraft,
    gitCommit: git(['rev-parse', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain']) !== '',
  };
}

/** A configuration's name, usable in file names. */
export function configName(config: ClusterConfig): string {
  return `${config.nodes}n-${config.transport}-${config.codec}`;
}

function sizeName(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** Writes one SVG per configuration into `dir`; returns the file names. */
export function writePlots(dir: string, load: readonly LoadResult[]): string[] {
  const files: string[] = [];
  for (const result of load) {
    const sizes = [...new Set(result.points.map((p) => p.valueBytes))].sort((a, b) => a - b);
    const series: PlotSeries[] = sizes.flatMap((size, i) => {
      const points = result.points
        .filter((p) => p.valueBytes === size && p.ops > 0)
        .sort((a, b) => a.clients - b.clients);
      const at = (pick: (p: LoadPoint) => number): PlotSeries['points'] =>
        points.map((p) => ({ x: p.opsPerSecond, y: pick(p), label: `${p.clients}c` }));
      return [
        { name: `p50, ${sizeName(size)}`, points: at((p) => p.p50Ms), colour: i },
        { name: `p99, ${sizeName(size)}`, points: at((p) => p.p99Ms), colour: i, dashed: true },
      ];
    });
    const file = `latency-${configName(result.config)}.svg`;
    const c = result.config;
    writeFileSync(
      join(dir, file),
      renderLinePlot({
        title: `${c.nodes} nodes, ${c.transport}, ${c.codec}: write latency vs throughput (labels: clients)`,
        xLabel: 'acknowledged writes per second',
        yLabel: 'latency, ms (log)',
        series,
        logY: true,
      }),
    );
    files.push(file);
  }
  return files;
}

/** Leaf figures of a benchmark's result, nested objects flattened to dotted names, at most `max`. */
function leafFigures(value: unknown, prefix: string, out: string[], max: number): void {
  if (out.length >= max) return;
  if (typeof value === 'number') out.push(`${prefix} ${+value.toPrecision(4)}`);
  else if (typeof value === 'boolean' || typeof value === 'string') out.push(`${prefix} ${String(value)}`);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) leafFigures(v, prefix === '' ? k : `${prefix}.${k}`, out, max);
  }
}

function scalarFigures(figures: Readonly<Record<string, unknown>>): string {
  const out: string[] = [];
  const { benchmark: _name, ...rest } = figures;
  leafFigures(rest, '', out, 12);
  return out.length > 0 ? `${out.join(', ')}${out.length >= 12 ? ', …' : ''}` : 'see results.json';
}

/** The headline figures, as lines. */
export function headlines(results: SuiteResults): string[] {
  const lines: string[] = [];
  for (const r of results.load) {
    const best = [...r.points].sort((a, b) => b.opsPerSecond - a.opsPerSecond)[0];
    const single = r.points.find((p) => p.clients === 1);
    if (best === undefined) continue;
    lines.push(
      `${configName(r.config)}: peak ${best.opsPerSecond} writes/s (${best.clients} ` +
        `clients, ${sizeName(best.valueBytes)}, p50 ${best.p50Ms} ms, p99 ${best.p99Ms} ms)` +
        (single === undefined ? '' : `; 1 client: p50 ${single.p50Ms} ms, p99 ${single.p99Ms} ms`),
    );
  }
  if (results.failover !== null)
    lines.push(
      `failover after SIGKILL of the leader: writes again after ${results.failover.writeGapMs.join(', ')} ms; new ` +
        `leader agreed after ${results.failover.newLeaderMs.join(', ')} ms`,
    );
  return lines;
}

/** Renders report.md; `sections` (Markdown lines, e.g. vs-etcd's) go after the load tables. */
export function renderReport(
  results: SuiteResults,
  plots: readonly string[],
  sections: readonly string[] = [],
): string {
  const m = results.machine;
  const v = results.versions;
  const table = (r: LoadResult): string[] => [
    '| clients | value | writes/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU % per agent | RSS MiB per agent |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
    ...r.points.map(
      (p) =>
        `| ${p.clients} | ${sizeName(p.valueBytes)} | ${p.opsPerSecond} | ${p.p50Ms} | ${p.p90Ms} | ${p.p99Ms} ` +
        `| ${p.maxMs} | ${p.errors} | ${p.agents.map((a) => `${a.id} ${a.cpuPercent}`).join(', ')} ` +
        `| ${p.agents.map((a) => `${a.id} ${a.rssMiB}`).join(', ')} |`,
    ),
  ];
  return [
    `# coraft bench suite — ${results.startedAt} (${results.mode})`,
    '',
    '## Headlines',
    ...headlines(results).map((l) => `- ${l}`),
    '',
    '## Machine and versions',
    `- CPU: ${m.cpuModel}, ${m.cores} cores; memory ${m.memoryGiB} GiB (${m.freeMemoryGiB} GiB free at start); ` +
      `kernel ${m.kernel} (${m.os})`,
    `- node ${v.node}, coraft ${v.coraft}, git ${v.gitCommit}${v.gitDirty ? ' (with uncommitted changes)' : ''}`,
    '- The load generator runs on the same machine as every agent, so agents and clients share its cores.',
    '',
    '## Settings',
    ...Object.entries(results.settings).map(([k, value]) => `- ${k}: ${JSON.stringify(value)}`),
    '',
    '## End-to-end load (PUTs through the local endpoints, closed loop)',
    ...results.load.flatMap((r, i) => [
      ``,
      `### ${configName(r.config)}`,
      '',
      `![latency vs throughput](${plots[i] ?? ''})`,
      '',
      ...table(r),
    ]),
    '',
    ...sections,
    '## Benchmark scripts',
    ...results.micro.map((r) =>
      r.ok ? `- ${r.name} (${r.seconds} s): ${scalarFigures(r.figures)}` : `- ${r.name}: FAILED (${r.error})`,
    ),
    '',
    ...(results.notes.length > 0 ? ['## Notes', ...results.notes.map((n) => `- ${n}`), ''] : []),
    'Every figure is in results.json beside this report.',
    '',
  ].join('\n');
}
