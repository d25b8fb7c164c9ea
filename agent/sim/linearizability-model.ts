/**
 * The models the linearizability search (linearizability-key.ts) runs over. A model's states are
 * small integers, so the search and its memo stay the same whatever the model:
 *
 * - `RegisterModel`: one key, one register (a string, or absent); the state is the register's
 *   value id. put writes, delete writes absent, get requires the value it read, cas requires its
 *   expect and writes its set, and a txn on this key alone is a cas (or a read, or a blind write).
 * - `RegisterMapModel`: the keys that multi-key transactions tie together (a component), one
 *   register each; the state is the id of the vector of their values (interned, at most
 *   `statesMax` vectors: past that the search gives up with `unknown`). A txn requires every key
 *   of its expect to hold its value and then writes every key of its set (absent for null), all
 *   at one point; the single-key operations act on their own key as in `RegisterModel`.
 *
 * An ok txn took its success branch; a failed one (compare false) changed nothing and is left out
 * of the history by the checker, like a failed cas.
 *
 * The search's prunes ask the model two things. `isWanted(op)`: does a pending operation require
 * a value `op` writes (an operation of unknown outcome is only worth taking then: skipping it
 * otherwise leaves every requirement as satisfiable). `covers(op, info)`: does blind write `op`
 * overwrite every key `info` wrote (then taking `info` just before `op` reaches a state that
 * skipping `info` reaches too, so the search need not try it).
 */
import { assert } from '../../contracts/assert.js';
import type { HistoryOperation } from './history.js';
import { isTxnArgument } from './history.js';

/** Interns register values: 0 is "absent", each distinct string gets the next integer. */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly names: (string | null)[] = [null];

  id(value: string | null): number {
    if (value === null) return 0;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(value, id);
      this.names.push(value);
    }
    return id;
  }

  /** The number of distinct values, absent included. */
  get size(): number {
    return this.names.length;
  }

  name(id: number): string | null {
    return this.names[id] ?? null;
  }
}

/** What the search needs of a model; see the module comment. */
export interface SearchModel {
  /** The state before any operation. */
  readonly initial: number;
  /** Whether the model gave up (too many states to intern); the search then answers unknown. */
  readonly overflow: boolean;
  allows(op: number, state: number): boolean;
  after(op: number, state: number): number;
  /** The operation writes nothing. */
  isRead(op: number): boolean;
  /** The operation requires nothing. */
  isBlind(op: number): boolean;
  covers(op: number, info: number): boolean;
  isWanted(op: number): boolean;
  /** `op` was taken (-1) or put back (+1): its requirements leave or rejoin the pending ones. */
  adjustWanted(op: number, sign: 1 | -1): void;
  describe(state: number): string;
}

/** An operation's requirements and writes: [key index, value id] pairs. */
interface Step {
  readonly requires: readonly (readonly [number, number])[];
  readonly writes: readonly (readonly [number, number])[];
}

function compile(op: HistoryOperation, keyIndex: (key: string) => number, values: ValueTable): Step {
  // A txn names its keys in its argument (its `key` may be anything); the others act on `key`.
  const k = op.op === 'txn' ? -1 : keyIndex(op.key);
  switch (op.op) {
    case 'put':
      return { requires: [], writes: [[k, values.id(typeof op.value === 'string' ? op.value : null)]] };
    case 'delete':
      return { requires: [], writes: [[k, 0]] };
    case 'get':
      return { requires: [[k, values.id(op.output)]], writes: [] };
    case 'cas': {
      const arg = op.value;
      assert(arg !== null && typeof arg === 'object' && !isTxnArgument(arg), 'a cas carries {expect, set}');
      return { requires: [[k, values.id(arg.expect)]], writes: [[k, values.id(arg.set)]] };
    }
    case 'txn': {
      const arg = op.value;
      assert(isTxnArgument(arg), 'a txn carries {expect, set}');
      const pairs = (map: Readonly<Record<string, string | null>>): [number, number][] =>
        Object.keys(map)
          .sort()
          .map((key) => [keyIndex(key), values.id(map[key] ?? null)]);
      return { requires: pairs(arg.expect), writes: pairs(arg.set) };
    }
  }
}

/** Counts of pending requirements, by key and value. */
class Wanted {
  private readonly counts = new Map<number, number>();

  constructor(private readonly valueCount: () => number) {}

  private slot(key: number, value: number): number {
    return key * this.valueCount() + value;
  }

  add(pairs: Step['requires'], sign: 1 | -1): void {
    for (const [key, value] of pairs) {
      const slot = this.slot(key, value);
      this.counts.set(slot, (this.counts.get(slot) ?? 0) + sign);
    }
  }

  any(pairs: Step['writes']): boolean {
    return pairs.some(([key, value]) => (this.counts.get(this.slot(key, value)) ?? 0) > 0);
  }
}

/** A map of registers over `keys` (one key: a single register); see the module comment. */
export class RegisterMapModel implements SearchModel {
  readonly initial = 0;
  private readonly values = new ValueTable();
  private readonly steps: readonly Step[];
  private readonly wanted: Wanted;
  private readonly vectors: Int32Array[] = [];
  private readonly vectorIds = new Map<string, number>();
  private full = false;

  constructor(
    private readonly keys: readonly string[],
    ops: readonly HistoryOperation[],
    private readonly statesMax: number,
  ) {
    const index = new Map(keys.map((key, i) => [key, i]));
    const keyIndex = (key: string): number => {
      const i = index.get(key);
      assert(i !== undefined, 'every key of an operation is in its component');
      return i;
    };
    this.steps = ops.map((op) => compile(op, keyIndex, this.values));
    // Value ids are all known now, so the slots of Wanted are stable.
    const valueCount = this.values.size;
    this.wanted = new Wanted(() => valueCount);
    for (const step of this.steps) this.wanted.add(step.requires, 1);
    this.intern(new Int32Array(keys.length));
  }

  get overflow(): boolean {
    return this.full;
  }

  private intern(vector: Int32Array): number {
    if (vector.length === 1) return vector[0] ?? 0;
    const name = vector.join(',');
    let id = this.vectorIds.get(name);
    if (id === undefined) {
      if (this.vectors.length >= this.statesMax) this.full = true;
      id = this.vectors.length;
      this.vectors.push(vector);
      this.vectorIds.set(name, id);
    }
    return id;
  }

  private vectorOf(state: number): Int32Array {
    if (this.keys.length === 1) return Int32Array.of(state);
    const vector = this.vectors[state];
    assert(vector !== undefined, 'a state is an interned vector');
    return vector;
  }

  private step(op: number): Step {
    const step = this.steps[op];
    assert(step !== undefined, 'every operation has a step');
    return step;
  }

  allows(op: number, state: number): boolean {
    const requires = this.step(op).requires;
    if (requires.length === 0) return true;
    const vector = this.vectorOf(state);
    return requires.every(([key, value]) => vector[key] === value);
  }

  after(op: number, state: number): number {
    const writes = this.step(op).writes;
    if (writes.length === 0) return state;
    const vector = this.vectorOf(state).slice();
    for (const [key, value] of writes) vector[key] = value;
    return this.intern(vector);
  }

  isRead(op: number): boolean {
    return this.step(op).writes.length === 0;
  }

  isBlind(op: number): boolean {
    return this.step(op).requires.length === 0;
  }

  covers(op: number, info: number): boolean {
    const written = new Set(this.step(op).writes.map(([key]) => key));
    return this.step(info).writes.every(([key]) => written.has(key));
  }

  isWanted(op: number): boolean {
    return this.wanted.any(this.step(op).writes);
  }

  adjustWanted(op: number, sign: 1 | -1): void {
    this.wanted.add(this.step(op).requires, sign);
  }

  describe(state: number): string {
    const vector = this.vectorOf(state);
    const text = (i: number): string => {
      const name = this.values.name(vector[i] ?? 0);
      return name === null ? 'absent' : `at ${JSON.stringify(name)}`;
    };
    if (this.keys.length === 1) return `the key ${text(0)}`;
    return `the keys ${this.keys.map((key, i) => `${JSON.stringify(key)} ${text(i)}`).join(', ')}`;
  }
}

/** One register (the fast path of one key); see the module comment. */
export class RegisterModel implements SearchModel {
  readonly initial = 0;
  readonly overflow = false;
  private readonly values = new ValueTable();
  /** The value each operation requires before, or -1 for any. */
  private readonly requires: Int32Array;
  /** The value each operation leaves, or -1 for "unchanged" (a read). */
  private readonly leaves: Int32Array;
  /** wanted[v]: pending operations that require the register to hold v. */
  private readonly wanted: Int32Array;

  constructor(key: string, ops: readonly HistoryOperation[]) {
    const steps = ops.map((op) =>
      compile(
        op,
        (k) => {
          assert(k === key, 'a register model holds one key');
          return 0;
        },
        this.values,
      ),
    );
    this.requires = Int32Array.from(steps, (s) => s.requires[0]?.[1] ?? -1);
    this.leaves = Int32Array.from(steps, (s) => s.writes[0]?.[1] ?? -1);
    this.wanted = new Int32Array(this.values.size);
    for (const r of this.requires) if (r >= 0) this.wanted[r] = (this.wanted[r] ?? 0) + 1;
  }

  allows(op: number, state: number): boolean {
    const r = this.requires[op] ?? -1;
    return r < 0 || r === state;
  }

  after(op: number, state: number): number {
    const l = this.leaves[op] ?? -1;
    return l < 0 ? state : l;
  }

  isRead(op: number): boolean {
    return (this.leaves[op] ?? -1) < 0;
  }

  isBlind(op: number): boolean {
    return (this.requires[op] ?? -1) < 0;
  }

  covers(): boolean {
    return true;
  }

  isWanted(op: number): boolean {
    const l = this.leaves[op] ?? -1;
    return l >= 0 && (this.wanted[l] ?? 0) > 0;
  }

  adjustWanted(op: number, sign: 1 | -1): void {
    const r = this.requires[op] ?? -1;
    if (r >= 0) this.wanted[r] = (this.wanted[r] ?? 0) + sign;
  }

  describe(state: number): string {
    const name = this.values.name(state);
    return `the key ${name === null ? 'absent' : `at ${JSON.stringify(name)}`}`;
  }
}
