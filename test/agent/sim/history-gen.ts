// Generates histories that are linearizable by construction: clients run operations one at a
// time; each operation that takes effect gets a linearization point inside its invoke/complete
// window (anywhere after its invoke for an info operation), and the outputs come from running
// the operations on a sequential model (a map of registers) in linearization-point order. Used
// by the checker's property tests and by bench/lincheck.ts.
import type { Prng } from '../../../contracts/prng.js';
import { isTxnArgument } from '../../../agent/sim/history.js';
import type {
  CasArgument,
  HistoryEvent,
  HistoryOp,
  HistoryOperation,
  InvokeEvent,
} from '../../../agent/sim/history.js';

/** Shape of a generated history. */
export interface HistoryGenOptions {
  readonly clients: number;
  readonly opsPerClient: number;
  readonly keys: number;
  /** Distinct values per key; 0 for a fresh value on every write (repeated values make ABA cases). */
  readonly valuePool: number;
  /** Chance that an operation's outcome is unknown (info). */
  readonly infoRate: number;
  /** Chance that a write definitely fails (not applied). */
  readonly failRate: number;
  readonly gapMsMax: number;
  readonly durationMsMax: number;
}

/** What happened to one planned operation. */
type Fate = 'ok' | 'fail' | 'info-applied' | 'info-lost';

interface Planned {
  readonly client: number;
  readonly id: number;
  readonly op: HistoryOp;
  readonly key: string;
  readonly value: string | null | CasArgument;
  readonly invokeMs: number;
  readonly completeMs: number;
  fate: Fate;
  /** When it takes effect; null when it never does. */
  readonly pointMs: number | null;
  output: string | null;
  /** Whether the info completion is recorded (else the operation never completes). */
  readonly infoRecorded: boolean;
}

function pick<T>(prng: Prng, items: readonly T[]): T {
  const item = items[prng.intBetween(0, items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function planOne(
  prng: Prng,
  o: HistoryGenOptions,
  client: number,
  id: number,
  startMs: number,
  fresh: () => string,
): Planned {
  const op = pick<HistoryOp>(prng, ['put', 'put', 'get', 'get', 'get', 'delete', 'cas']);
  const keyIndex = prng.intBetween(0, o.keys);
  const key = `k${keyIndex}`;
  const valueOf = (): string => (o.valuePool === 0 ? fresh() : `v${prng.intBetween(0, o.valuePool)}`);
  const value =
    op === 'put' ? valueOf() : op === 'cas' ? { expect: prng.chance(0.2) ? null : valueOf(), set: valueOf() } : null;
  const invokeMs = startMs + prng.intBetween(0, o.gapMsMax + 1);
  const completeMs = invokeMs + prng.intBetween(0, o.durationMsMax + 1);
  let fate: Fate = 'ok';
  if (prng.chance(o.infoRate)) fate = prng.chance(0.5) ? 'info-applied' : 'info-lost';
  else if (op !== 'get' && prng.chance(o.failRate)) fate = 'fail';
  let pointMs: number | null = null;
  if (fate === 'ok') pointMs = invokeMs + prng.nextFloat() * (completeMs - invokeMs);
  if (fate === 'info-applied') pointMs = invokeMs + prng.nextFloat() * (completeMs - invokeMs + 3 * o.durationMsMax);
  return {
    client,
    id,
    op,
    key,
    value,
    invokeMs,
    completeMs,
    fate,
    pointMs,
    output: null,
    infoRecorded: prng.chance(0.5),
  };
}

/** Runs the planned operations that take effect on a map of registers, in point order. */
function runModel(planned: readonly Planned[]): void {
  const state = new Map<string, string>();
  const order = planned.filter((p) => p.pointMs !== null).sort((a, b) => (a.pointMs ?? 0) - (b.pointMs ?? 0));
  for (const p of order) {
    const current = state.get(p.key) ?? null;
    if (p.op === 'get') p.output = current;
    else if (p.op === 'put' && typeof p.value === 'string') state.set(p.key, p.value);
    else if (p.op === 'delete') state.delete(p.key);
    else if (p.op === 'cas' && p.value !== null && typeof p.value === 'object') {
      if (current !== p.value.expect) {
        // A cas whose comparison fails did not happen: Jepsen reports it as fail (or info).
        if (p.fate === 'ok') p.fate = 'fail';
        continue;
      }
      state.set(p.key, p.value.set);
    }
  }
}

function eventsOf(p: Planned): HistoryEvent[] {
  const invoke: InvokeEvent = {
    t: p.invokeMs,
    type: 'invoke',
    client: `c${p.client}`,
    id: p.id,
    op: p.op,
    key: p.key,
    value: p.value,
  };
  const base = { t: p.completeMs, client: `c${p.client}`, id: p.id };
  switch (p.fate) {
    case 'ok':
      return [invoke, { ...base, type: 'ok', value: p.op === 'get' ? p.output : p.value }];
    case 'fail':
      return [invoke, { ...base, type: 'fail', value: null }];
    case 'info-applied':
    case 'info-lost':
      return p.infoRecorded ? [invoke, { ...base, type: 'info', value: null }] : [invoke];
  }
}

/** A linearizable history, as events in time order (invokes first at equal times). */
export function generateHistory(prng: Prng, o: HistoryGenOptions): HistoryEvent[] {
  let counter = 0;
  const fresh = (): string => `w${(counter += 1)}`;
  const planned: Planned[] = [];
  for (let client = 0; client < o.clients; client += 1) {
    let t = 0;
    for (let id = 0; id < o.opsPerClient; id += 1) {
      const p = planOne(prng, o, client, id, t, fresh);
      planned.push(p);
      t = p.completeMs;
    }
  }
  runModel(planned);
  const events = planned.flatMap(eventsOf);
  return events.sort((a, b) => a.t - b.t || (a.type === 'invoke' ? 0 : 1) - (b.type === 'invoke' ? 0 : 1));
}

/** The values written to `key` by operations that may have happened, with their windows. */
interface Write {
  readonly value: string | null;
  readonly op: HistoryOperation;
}

function writesOf(ops: readonly HistoryOperation[], key: string): Write[] {
  return ops.flatMap((op): Write[] => {
    if (op.key !== key || op.status === 'fail') return [];
    if (op.op === 'put' && typeof op.value === 'string') return [{ value: op.value, op }];
    if (op.op === 'delete') return [{ value: null, op }];
    if (op.op === 'cas' && op.value !== null && typeof op.value === 'object' && !isTxnArgument(op.value))
      return [{ value: op.value.set, op }];
    return [];
  });
}

/**
 * A value that the ok get `read` cannot have read, preferring a stale one: a value all of whose
 * writes completed before another ok put or delete started, which itself completed before the
 * read began. Falls back to a value nobody wrote.
 */
export function impossibleValueFor(ops: readonly HistoryOperation[], read: HistoryOperation): string {
  const writes = writesOf(ops, read.key);
  const overwriters = writes.filter(
    (w) => w.op.status === 'ok' && w.op.op !== 'cas' && w.op.completeMs < read.invokeMs,
  );
  for (const candidate of writes) {
    if (candidate.value === null || candidate.value === read.output) continue;
    const all = writes.filter((w) => w.value === candidate.value);
    const stale = overwriters.some(
      (o) => o.value !== candidate.value && all.every((w) => w.op.completeMs < o.op.invokeMs),
    );
    if (stale) return candidate.value;
  }
  return 'never-written';
}
