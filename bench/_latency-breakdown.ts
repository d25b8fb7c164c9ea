/**
 * The latency breakdown of writes from the agents' latency probes (agent/observability/
 * latency-probe.ts, CORAFT_LATENCY_PROBE=DIR): merges the files the agents wrote into DIR by log
 * index and prints, for each step of an entry's path, the percentiles of its duration over every
 * entry the leader proposed, then what the slowest 1 % spent their time on (the step that took
 * longest, and the GC pauses that overlapped them on any agent). When the bench client's record is
 * there too (bench/_client-probe.ts), each write also gets the client's send and answer, the steps
 * between them and the leader's endpoint (`received`, `responded`), and a second list of the slowest
 * writes as the client saw them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LATENCY_STAGES } from '../agent/observability/latency-probe.js';
import type { LatencyStage, ProbeRecord } from '../agent/observability/latency-probe.js';
import { CLIENT_PROBE_FILE, readClientProbe } from './_client-probe.js';

type Marks = Map<number, Map<string, number>>;

/** node:perf_hooks' NODE_PERFORMANCE_GC_FLAGS_FORCED: a collection a gc() call asked for. */
const GC_FLAGS_FORCED = 4;

interface Agent {
  readonly node: string;
  readonly marks: Marks;
  readonly gc: readonly (readonly [number, number, number, number])[];
}

/** A probe file's record, checked field by field (a file of another version is refused). */
function parseRecord(text: string, file: string): ProbeRecord {
  const value: unknown = JSON.parse(text);
  const field = (name: string): unknown =>
    typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
  const node = field('node');
  const stages = field('stages');
  const marks = field('marks');
  const gc = field('gc');
  const numbers = (row: unknown): row is number[] => Array.isArray(row) && row.every((x) => typeof x === 'number');
  const mark = (row: unknown): row is [number, ...(number | null)[]] =>
    Array.isArray(row) && typeof row[0] === 'number' && row.every((x) => x === null || typeof x === 'number');
  const stageList = (list: unknown): list is LatencyStage[] =>
    Array.isArray(list) && list.every((x) => LATENCY_STAGES.some((stage) => stage === x));
  if (typeof node !== 'string' || !stageList(stages) || !Array.isArray(marks) || !Array.isArray(gc))
    throw new Error(`${file}: not a latency probe record`);
  if (!marks.every(mark) || !gc.every((row) => numbers(row) && row.length === 4))
    throw new Error(`${file}: not a latency probe record`);
  const pauses = gc.map((row: number[]): [number, number, number, number] => [
    row[0] ?? 0,
    row[1] ?? 0,
    row[2] ?? 0,
    row[3] ?? 0,
  ]);
  return { node, stages, marks, gc: pauses, droppedIndexes: Number(field('droppedIndexes') ?? 0) };
}

function load(dir: string): Agent[] {
  const agents: Agent[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.latency.json'))
    .sort()) {
    const record = parseRecord(readFileSync(join(dir, name), 'utf8'), join(dir, name));
    const marks: Marks = new Map();
    for (const [index, ...times] of record.marks) {
      const stages = new Map<string, number>();
      times.forEach((t, i) => {
        const stage = record.stages[i];
        if (t !== null && stage !== undefined) stages.set(stage, t);
      });
      marks.set(index, stages);
    }
    agents.push({ node: record.node, marks, gc: record.gc });
  }
  return agents;
}

/** One step: its name and its duration for an index (undefined when a mark is missing). */
interface Step {
  readonly name: string;
  readonly of: (index: number) => number | undefined;
}

/**
 * The client's record as an agent 'C' with marks `sent` and `answered` under the index of the
 * leader's write whose `received` (else `propose`) mark falls in the request's interval; null
 * when the folder has no client record.
 */
function clientAgent(dir: string, leader: Agent): Agent | null {
  const file = join(dir, CLIENT_PROBE_FILE);
  if (!existsSync(file)) return null;
  const record = readClientProbe(readFileSync(file, 'utf8'));
  const pairs = record.requests;
  const marks: Marks = new Map();
  for (const [index, m] of leader.marks) {
    const at = m.get('received') ?? m.get('propose');
    if (at === undefined) continue;
    let lo = 0;
    let hi = pairs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((pairs[mid]?.[0] ?? Infinity) <= at) lo = mid;
      else hi = mid - 1;
    }
    const pair = pairs[lo];
    if (pair !== undefined && pair[0] <= at && at <= pair[1])
      marks.set(
        index,
        new Map([
          ['sent', pair[0]],
          ['answered', pair[1]],
        ]),
      );
  }
  return { node: 'C', marks, gc: record.gc };
}

function between(a: Agent, from: string, b: Agent, to: string): (index: number) => number | undefined {
  return (index) => {
    const x = a.marks.get(index)?.get(from);
    const y = b.marks.get(index)?.get(to);
    return x === undefined || y === undefined ? undefined : y - x;
  };
}

function steps(leader: Agent, followers: readonly Agent[], client: Agent | null): Step[] {
  const L = leader;
  const out: Step[] = [];
  if (client !== null)
    out.push(
      { name: 'C sent -> L received', of: between(client, 'sent', L, 'received') },
      { name: 'L received -> propose', of: between(L, 'received', L, 'propose') },
    );
  out.push(
    { name: 'L propose -> ready', of: between(L, 'propose', L, 'ready') },
    { name: 'L ready -> sent', of: between(L, 'ready', L, 'sent') },
    { name: 'L sent -> synced (own write)', of: between(L, 'sent', L, 'synced') },
  );
  for (const F of followers) {
    const f = F.node;
    out.push(
      { name: `${f} L sent -> recv`, of: between(L, 'sent', F, 'recv') },
      { name: `${f} recv -> ready`, of: between(F, 'recv', F, 'ready') },
      { name: `${f} ready -> synced`, of: between(F, 'ready', F, 'synced') },
      { name: `${f} synced -> answered`, of: between(F, 'synced', F, 'answered') },
      { name: `${f} answered -> L ack`, of: between(F, 'answered', L, 'ack') },
    );
  }
  out.push(
    { name: 'L sent -> ack (first answer)', of: between(L, 'sent', L, 'ack') },
    { name: 'L synced -> ack (<0: ack first)', of: between(L, 'synced', L, 'ack') },
    {
      name: 'L max(synced, ack) -> committed',
      of: (index) => {
        const m = L.marks.get(index);
        const s = m?.get('synced');
        const a = m?.get('ack');
        const c = m?.get('committed');
        return s === undefined || a === undefined || c === undefined ? undefined : c - Math.max(s, a);
      },
    },
    { name: 'L committed -> applied', of: between(L, 'committed', L, 'applied') },
    { name: 'L propose -> applied (total)', of: between(L, 'propose', L, 'applied') },
  );
  if (client !== null)
    out.push(
      { name: 'L applied -> responded', of: between(L, 'applied', L, 'responded') },
      { name: 'L responded -> C answered', of: between(L, 'responded', client, 'answered') },
      { name: 'C sent -> answered (client total)', of: between(client, 'sent', client, 'answered') },
    );
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? '-' : ms.toFixed(3));

/** The breakdown of the probe files in `dir`, as lines of text. */
export function latencyBreakdown(dir: string): string[] {
  const agents = load(dir);
  const count = (a: Agent): number => [...a.marks.values()].filter((m) => m.has('propose')).length;
  const leader = agents.reduce<Agent | null>((best, a) => (best === null || count(a) > count(best) ? a : best), null);
  if (leader === null) return [`no latency probe files in ${dir}`];
  const followers = agents.filter((a) => a !== leader);
  const indexes = [...leader.marks.entries()].filter(([, m]) => m.has('propose') && m.has('applied')).map(([i]) => i);
  const client = clientAgent(dir, leader);
  const lines = [`latency breakdown (${dir}): leader ${leader.node}, ${indexes.length} writes, ms`];
  if (client !== null) lines.push(`client record: ${client.marks.size} of them matched to a client request`);
  lines.push(
    `${'step'.padEnd(36)} ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`,
  );
  const all = steps(leader, followers, client);
  const medians = new Map<string, number>();
  for (const step of all) {
    const values = indexes
      .map(step.of)
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    medians.set(step.name, percentile(values, 50));
    const cols = [50, 90, 99, 100].map((p) => fmt(percentile(values, p)).padStart(8));
    lines.push(`${step.name.padEnd(36)} ${cols.join(' ')}`);
  }
  const write = { leader, indexes, all, medians };
  const total = all.find((s) => s.name === 'L propose -> applied (total)');
  if (total !== undefined) lines.push(...slowest('L propose -> applied', total, agents, write));
  const clientTotal = all.find((s) => s.name.startsWith('C sent -> answered'));
  const withClient = client === null ? agents : [...agents, client];
  if (clientTotal !== undefined) lines.push(...slowest('client', clientTotal, withClient, write));
  const bandTotal = clientTotal ?? total;
  if (bandTotal !== undefined)
    lines.push(...band(clientTotal === undefined ? 'L propose -> applied' : 'client', bandTotal, write));
  for (const a of withClient) {
    const pauses = [...a.gc].map(([, d]) => d).sort((x, y) => x - y);
    const major = a.gc.filter(([, , kind]) => kind !== 1);
    const forced = major.filter(([, , , flags]) => (flags & GC_FLAGS_FORCED) !== 0);
    const ms = (list: readonly (readonly number[])[]): string => fmt(list.reduce((sum, [, d = 0]) => sum + d, 0));
    lines.push(
      `gc ${a.node}: ${pauses.length} pauses, p50 ${fmt(percentile(pauses, 50))} max ${fmt(percentile(pauses, 100))} ` +
        `ms; ${major.length} not minor (${ms(major)} ms), ${forced.length} of them forced by gc() (${ms(forced)} ms)`,
    );
  }
  return lines;
}

/** The writes' marks as the breakdown measured them: the leader, the indexes, every step and its median. */
interface Writes {
  readonly leader: Agent;
  readonly indexes: readonly number[];
  readonly all: readonly Step[];
  readonly medians: ReadonlyMap<string, number>;
}

/** When the write of `index` starts as ranked `by` the client (its request's arrival) or the leader (its proposal). */
function startOf(leader: Agent, by: string, index: number): number {
  return leader.marks.get(index)?.get(by === 'client' ? 'received' : 'propose') ?? 0;
}

/** The GC pauses of `agent` that overlap `ms` from `start`. */
function pausesWithin(agent: Agent, start: number, ms: number): Agent['gc'] {
  return agent.gc.filter(([t, d]) => t + d >= start && t <= start + ms);
}

/** What the slowest 1 % of the writes spent their time on. */
function slowest(by: string, total: Step, agents: readonly Agent[], writes: Writes): string[] {
  const { leader, indexes, all } = writes;
  const ranked = indexes
    .map((i) => [i, total.of(i) ?? 0] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, Math.max(1, Math.ceil(indexes.length / 100)));
  const lines = [
    `slowest ${ranked.length} writes by ${by} (index total: longest step; GC pauses overlapping, node:ms):`,
  ];
  const partial = all.filter((s) => !s.name.includes('total'));
  lines.push(...attribution(ranked, by, agents, writes, partial));
  for (const [index, ms] of ranked.slice(0, 20)) {
    const parts = partial
      .map((s) => [s.name, s.of(index)] as const)
      .filter((p): p is readonly [string, number] => p[1] !== undefined)
      .sort((a, b) => b[1] - a[1]);
    const gcs = agents.flatMap((a) =>
      pausesWithin(a, startOf(leader, by, index), ms).map(
        ([, d, kind, flags]) => `${a.node}:${d.toFixed(1)}${kind === 1 ? '' : `(kind ${kind}, flags ${flags})`}`,
      ),
    );
    const top = parts.slice(0, 2).map(([n, v]) => `${n} ${fmt(v)}`);
    lines.push(`  ${index} ${fmt(ms)}: ${top.join('; ')}${gcs.length > 0 ? `; gc ${gcs.join(',')}` : ''}`);
  }
  return lines;
}

/** The writes whose steps {@link band} averages, by rank (percent of the writes, fastest first): around the p99. */
const BAND_PERCENT = [98.5, 99.5] as const;

/**
 * What the writes around the p99 spent their time on: for the writes ranked from BAND_PERCENT[0]
 * to BAND_PERCENT[1] % by `total`, each step's mean against its median over all writes. The slowest
 * 1 % (slowest) is led by a few writes tens of ms long (a checkpoint's or a collection's pause); the
 * band is what sets the p99. At one client on two shared cores it showed every step of the path
 * slower at once, the client's two hops as much as the followers' answers (issue 16).
 */
function band(by: string, total: Step, writes: Writes): string[] {
  const { indexes, all, medians } = writes;
  const ranked = indexes
    .map((i) => [i, total.of(i)] as const)
    .filter((r): r is readonly [number, number] => r[1] !== undefined)
    .sort((a, b) => a[1] - b[1]);
  if (ranked.length === 0) return [];
  const from = Math.floor((BAND_PERCENT[0] / 100) * ranked.length);
  const inBand = ranked.slice(from, Math.max(from + 1, Math.floor((BAND_PERCENT[1] / 100) * ranked.length)));
  const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;
  const signed = (ms: number): string => `${ms >= 0 ? '+' : ''}${fmt(ms)}`;
  const lines = [
    `p99 band by ${by}: the ${inBand.length} writes ranked ${BAND_PERCENT[0]}-${BAND_PERCENT[1]} % (mean ` +
      `${fmt(mean(inBand.map(([, ms]) => ms)))} ms); each step's mean over them against its median over all writes:`,
    `  ${'step'.padEnd(36)} ${'median'.padStart(8)} ${'band'.padStart(8)} ${'excess'.padStart(8)}`,
  ];
  for (const step of all) {
    const values = inBand.map(([i]) => step.of(i)).filter((v): v is number => v !== undefined);
    if (values.length === 0) continue;
    const median = medians.get(step.name) ?? Number.NaN;
    const m = mean(values);
    lines.push(
      `  ${step.name.padEnd(36)} ${fmt(median).padStart(8)} ${fmt(m).padStart(8)} ${signed(m - median).padStart(8)}`,
    );
  }
  return lines;
}

/**
 * Where the slowest writes went, in aggregate: how many overlap a GC pause on some process (the
 * leader's, else only others'), and the rest by the step on the write's path (the leader's steps,
 * the first answer, and when ranked by the client its hops; not each follower's own) furthest above
 * its median over all writes: the step that made it slow. With more than one client the endpoint's
 * marks are only roughly the request's (latency-probe.ts), and so are the client's steps; and an
 * entry that is not the last of its Ready has no `ready`, `sent` or `synced` mark, so a write
 * slow only there counts as "(no step marked)".
 */
function attribution(
  ranked: readonly (readonly [number, number])[],
  by: string,
  agents: readonly Agent[],
  writes: Writes,
  partial: readonly Step[],
): string[] {
  const { leader, medians } = writes;
  const followerIds = agents.filter((a) => a !== leader && a.node !== 'C').map((a) => `${a.node} `);
  // Ranked by the leader's propose -> applied, the endpoint's steps before and after it are not on the path.
  const outside = by === 'client' ? [] : ['C sent', 'L received', 'L applied', 'L responded'];
  const path = partial.filter(
    (s) =>
      !followerIds.some((f) => s.name.startsWith(f)) &&
      !outside.some((o) => s.name.startsWith(o)) &&
      !s.name.includes('<0'),
  );
  let leaderGc = 0;
  let otherGc = 0;
  const byStep = new Map<string, number>();
  for (const [index, ms] of ranked) {
    const start = startOf(leader, by, index);
    const overlaps = (a: Agent): boolean => pausesWithin(a, start, ms).length > 0;
    if (overlaps(leader)) leaderGc += 1;
    else if (agents.some(overlaps)) otherGc += 1;
    else {
      let worst = '(no step marked)';
      let excess = Number.NEGATIVE_INFINITY;
      for (const s of path) {
        const v = s.of(index);
        const over = v === undefined ? Number.NEGATIVE_INFINITY : v - (medians.get(s.name) ?? 0);
        if (over > excess) [worst, excess] = [s.name, over];
      }
      byStep.set(worst, (byStep.get(worst) ?? 0) + 1);
    }
  }
  const rest = ranked.length - leaderGc - otherGc;
  const steps = [...byStep].sort((x, y) => y[1] - x[1]).map(([name, n]) => `${name} ${n}`);
  return [
    `  of these, ${leaderGc + otherGc} overlap a GC pause (the leader's ${leaderGc}, only another process's ` +
      `${otherGc}); the other ${rest}, by the step furthest above its median: ${steps.join(', ') || 'none'}`,
  ];
}
