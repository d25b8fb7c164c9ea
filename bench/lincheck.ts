// Benchmark of the linearizability checker: times parsing, pairing and checking of generated
// linearizable histories of about 10,000 operations over 10 keys (a simulator-like one, one with
// more concurrency, unknown outcomes and repeated values, and a 100,000-operation one), plus a
// history with one read mutated so that it is not linearizable. Each history is generated from
// a fixed seed, so runs are comparable. Options: --seed N, --repeat N (best of N, default 3).
import { SeededPrng } from '../contracts/prng.js';
import type { HistoryOperation } from '../agent/sim/history.js';
import { formatHistoryEvent, pairOperations, parseHistory } from '../agent/sim/history.js';
import { checkLinearizability } from '../agent/sim/linearizability.js';
import type { HistoryGenOptions } from '../test/agent/sim/history-gen.js';
import { generateHistory, impossibleValueFor } from '../test/agent/sim/history-gen.js';

interface Scenario {
  readonly name: string;
  readonly options: HistoryGenOptions;
  readonly mutate: boolean;
}

const BASE: HistoryGenOptions = {
  clients: 20,
  opsPerClient: 500,
  keys: 10,
  valuePool: 0,
  infoRate: 0.01,
  failRate: 0.01,
  gapMsMax: 10,
  durationMsMax: 20,
};

const SCENARIOS: readonly Scenario[] = [
  { name: 'sim-like 10k ops, 20 clients, 10 keys', options: BASE, mutate: false },
  {
    name: 'contended 10k ops, 100 clients, 10 keys, 5% info, 3 values per key',
    options: { ...BASE, clients: 100, opsPerClient: 100, valuePool: 3, infoRate: 0.05, durationMsMax: 50 },
    mutate: false,
  },
  { name: 'sim-like 10k ops with one stale read', options: BASE, mutate: true },
  {
    name: 'sim-like 100k ops, 50 clients, 10 keys',
    options: { ...BASE, clients: 50, opsPerClient: 2000 },
    mutate: false,
  },
];

function argument(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} expects a non-negative integer`);
  return value;
}

function mutateOneRead(ops: HistoryOperation[]): HistoryOperation[] {
  const index = ops.findIndex((op, i) => i > ops.length / 2 && op.op === 'get' && op.status === 'ok');
  const read = ops[index];
  if (read === undefined) throw new Error('no read to mutate');
  const mutated = [...ops];
  mutated[index] = { ...read, output: impossibleValueFor(ops, read) };
  return mutated;
}

/** Runs every scenario and returns the best times (ms) and verdicts. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const seed = argument(args, '--seed', 1);
  const repeat = Math.max(1, argument(args, '--repeat', 3));
  const figures: Record<string, unknown> = { seed, repeat };
  for (const [n, scenario] of SCENARIOS.entries()) {
    const text = generateHistory(new SeededPrng(seed + n), scenario.options)
      .map(formatHistoryEvent)
      .join('\n');
    let parseMs = Infinity;
    let checkMs = Infinity;
    let verdict = '';
    let summary = '';
    for (let r = 0; r < repeat; r += 1) {
      const t0 = performance.now();
      const paired = pairOperations(parseHistory(text));
      const ops = scenario.mutate ? mutateOneRead(paired) : paired;
      const t1 = performance.now();
      const result = checkLinearizability(ops);
      const t2 = performance.now();
      parseMs = Math.min(parseMs, t1 - t0);
      checkMs = Math.min(checkMs, t2 - t1);
      verdict = String(result.ok);
      summary = `${ops.length} ops, ${result.operations} checked, ${result.statesExplored} states`;
    }
    console.log(
      `${scenario.name}: check ${checkMs.toFixed(1)} ms, parse+pair ${parseMs.toFixed(1)} ms, ok=${verdict} ` +
        `(${summary})`,
    );
    figures[`s${n}_name`] = scenario.name;
    figures[`s${n}_check_ms`] = Number(checkMs.toFixed(1));
    figures[`s${n}_parse_ms`] = Number(parseMs.toFixed(1));
    figures[`s${n}_ok`] = verdict;
  }
  return Promise.resolve(figures);
}
