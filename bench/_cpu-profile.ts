/**
 * The top costs in V8 CPU profiles (the .cpuprofile files `node --cpu-prof` writes, e.g. the
 * agents' under `npm run bench -- vs-etcd --cpu-prof-dir=DIR`): self time per function and per
 * file, summed over every profile given, as a share of the time the processes were busy (idle
 * samples left out; garbage collection and "(program)" kept, they are costs too). The parsing is
 * pure and tested (test/bench/cpu-profile.test.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable, round } from './_figures.js';

/** One function's (or file's) self time over the profiles. */
export interface CostEntry {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the busy time, percent. */
  readonly percent: number;
}

/** Self time by function and by file. */
export interface ProfileCosts {
  readonly busyMs: number;
  readonly idleMs: number;
  readonly functions: readonly CostEntry[];
  readonly files: readonly CostEntry[];
}

interface Frame {
  readonly functionName: string;
  readonly url: string;
  readonly line: number;
}

/** A file's name relative to `root` (or from its node_modules folder on), without file://. */
export function shortUrl(url: string, root: string): string {
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + 1);
  return root !== '' && path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

const obj = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v)) : null;
const numbers = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : []);

/**
 * A span of time on the profiles' clock, µs: V8 stamps samples with the monotonic clock that
 * `process.hrtime` reads, the same in every process of the machine.
 */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** The monotonic clock of the profiles' timestamps, µs (see ProfileWindow). */
export const profileClockUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Adds the self time of each frame in one profile (parsed JSON) to `selfUs`, only of the samples
 * taken within `window` when one is given; throws when it is not a CPU profile.
 */
export function addProfile(
  profile: unknown,
  selfUs: Map<Frame, number>,
  frames: Map<string, Frame>,
  window?: ProfileWindow,
): void {
  const p = obj(profile);
  if (p === null || !Array.isArray(p.nodes)) throw new Error('not a V8 CPU profile (no nodes)');
  const nodes: readonly unknown[] = p.nodes;
  const byId = new Map<number, Frame>();
  for (const n of nodes) {
    const node = obj(n);
    const frame = obj(node?.callFrame);
    if (node === null || frame === null) continue;
    const functionName = typeof frame.functionName === 'string' ? frame.functionName : '';
    const url = typeof frame.url === 'string' ? frame.url : '';
    const line = typeof frame.lineNumber === 'number' ? frame.lineNumber + 1 : 0;
    const key = `${functionName}\u0000${url}\u0000${line}`;
    const known = frames.get(key) ?? { functionName, url, line };
    frames.set(key, known);
    byId.set(Number(node.id), known);
  }
  const samples = numbers(p.samples);
  const deltas = numbers(p.timeDeltas);
  let atUs = typeof p.startTime === 'number' ? p.startTime : 0;
  for (let i = 0; i < samples.length; i += 1) {
    const frame = byId.get(samples[i] ?? -1);
    const us = Math.max(0, deltas[i] ?? 0);
    atUs += deltas[i] ?? 0;
    if (window !== undefined && (atUs < window.fromUs || atUs > window.toUs)) continue;
    if (frame !== undefined) selfUs.set(frame, (selfUs.get(frame) ?? 0) + us);
  }
}

/** The top `top` functions and files by self time. */
export function topCosts(selfUs: ReadonlyMap<Frame, number>, root: string, top: number): ProfileCosts {
  let idleUs = 0;
  let busyUs = 0;
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [frame, us] of selfUs) {
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const file = frame.url === '' ? frame.functionName : shortUrl(frame.url, root);
    const name =
      frame.url === ''
        ? frame.functionName
        : `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${file}:${frame.line}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
  }
  const entries = (m: Map<string, number>): CostEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        selfMs: round(us / 1000, 1),
        percent: busyUs > 0 ? round((100 * us) / busyUs, 1) : 0,
      }));
  return {
    busyMs: round(busyUs / 1000, 1),
    idleMs: round(idleUs / 1000, 1),
    functions: entries(functions),
    files: entries(files),
  };
}

/** Reads every .cpuprofile in `dir` and sums their costs (within `window` when given). */
export function profileCosts(
  dir: string,
  root: string,
  top: number,
  window?: ProfileWindow,
): ProfileCosts & { readonly profiles: number } {
  const selfUs = new Map<Frame, number>();
  const frames = new Map<string, Frame>();
  const names = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const name of names) addProfile(JSON.parse(readFileSync(join(dir, name), 'utf8')), selfUs, frames, window);
  return { profiles: names.length, ...topCosts(selfUs, root, top) };
}

/** The costs as two tables. */
export function costsTables(costs: ProfileCosts): string {
  const rows = (entries: readonly CostEntry[]): string[][] =>
    entries.map((e) => [e.name, String(e.selfMs), `${e.percent}%`]);
  return [
    `busy ${costs.busyMs} ms, idle ${costs.idleMs} ms (all profiles together); self time:`,
    formatTable(['function', 'self ms', 'of busy'], rows(costs.functions)),
    '',
    formatTable(['file', 'self ms', 'of busy'], rows(costs.files)),
  ].join('\n');
}
