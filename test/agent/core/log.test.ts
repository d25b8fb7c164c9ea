// Model-based test of the in-memory Raft log: random sequences of leader appends, follower
// AppendEntries (matching, conflicting, stale), commits, hand-outs to storage, snapshots and
// compaction are applied both to RaftLog and to a plain array model under fc.commands; after
// every command the log must hold exactly the model's entries, and its invariants must hold.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { RaftLog } from '../../../agent/core/log.js';
import type { LogEntry } from '../../../contracts/log.js';
import { fcParams } from '../../fc-params.js';

interface Model {
  /** terms[i] is the term of index i + 1. */
  terms: number[];
  commit: number;
  snapshot: number;
}

type Real = { log: RaftLog };

const entry = (index: number, term: number): LogEntry => ({
  index,
  term,
  type: 'command',
  command: new Uint8Array([index & 255]),
});

function check(model: Model, real: Real): void {
  const log = real.log;
  log.checkInvariants();
  assert.equal(log.lastIndex(), model.terms.length);
  assert.equal(log.commitIndex, model.commit);
  for (let i = Math.max(1, log.firstIndex()); i <= model.terms.length; i += 1)
    assert.equal(log.term(i), model.terms[i - 1], `term at ${i}`);
}

class LeaderAppend implements fc.Command<Model, Real> {
  constructor(readonly bump: number) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const term = (model.terms[model.terms.length - 1] ?? 1) + this.bump;
    real.log.appendOwn(entry(model.terms.length + 1, term));
    model.terms.push(term);
    check(model, real);
  }
  toString(): string {
    return `LeaderAppend(+${this.bump})`;
  }
}

class FollowerAppend implements fc.Command<Model, Real> {
  constructor(
    readonly prev: number,
    readonly terms: readonly number[],
  ) {}
  check(model: Model): boolean {
    return this.prev <= model.terms.length + 1;
  }
  run(model: Model, real: Real): void {
    const prevTerm = this.prev === 0 ? 0 : (model.terms[this.prev - 1] ?? 99);
    const base = Math.max(prevTerm, 1);
    const entries = this.terms.map((t, i) => entry(this.prev + 1 + i, base + t));
    // Entries the model holds as committed never conflict (Leader Completeness).
    for (const e of entries) if (e.index <= model.commit && model.terms[e.index - 1] !== e.term) return;
    const outcome = real.log.maybeAppend(this.prev, prevTerm, entries);
    if (this.prev > model.terms.length) {
      assert.equal(outcome.ok, false);
      return;
    }
    assert.equal(outcome.ok, true);
    for (const e of entries) {
      const held = model.terms[e.index - 1];
      if (held === undefined) model.terms.push(e.term);
      else if (held !== e.term) {
        model.terms.length = e.index - 1;
        model.terms.push(e.term);
      }
    }
    check(model, real);
  }
  toString(): string {
    return `FollowerAppend(${this.prev}, [${this.terms.join(',')}])`;
  }
}

class Commit implements fc.Command<Model, Real> {
  constructor(readonly ahead: number) {}
  check(model: Model): boolean {
    return model.commit + this.ahead <= model.terms.length;
  }
  run(model: Model, real: Real): void {
    real.log.commitTo(model.commit + this.ahead);
    model.commit += this.ahead;
    check(model, real);
  }
  toString(): string {
    return `Commit(+${this.ahead})`;
  }
}

class Persist implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const { entries } = real.log.takeUnstable();
    const last = entries[entries.length - 1];
    if (last !== undefined) real.log.stableTo(last.index, last.term);
    const applied = real.log.takeCommitted(1 << 20);
    const lastApplied = applied[applied.length - 1];
    if (lastApplied !== undefined) real.log.appliedTo(lastApplied.index);
    check(model, real);
  }
  toString(): string {
    return 'Persist';
  }
}

class Compact implements fc.Command<Model, Real> {
  check(model: Model): boolean {
    return model.commit > model.snapshot;
  }
  run(model: Model, real: Real): void {
    const index = real.log.appliedIndex;
    if (index <= model.snapshot) return;
    real.log.compact(index, model.terms[index - 1] ?? 0, index + 1);
    model.snapshot = index;
    check(model, real);
  }
  toString(): string {
    return 'Compact';
  }
}

describe('RaftLog against an array model', () => {
  it('holds exactly the model entries under random commands', () => {
    const commands = [
      fc.integer({ min: 0, max: 1 }).map((b) => new LeaderAppend(b)),
      fc.tuple(fc.nat({ max: 12 }), fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 5 })).map(
        ([p, t]) =>
          new FollowerAppend(
            p,
            [...t].sort((a, b) => a - b),
          ),
      ),
      fc.integer({ min: 1, max: 3 }).map((a) => new Commit(a)),
      fc.constant(new Persist()),
      fc.constant(new Compact()),
    ];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
        fc.modelRun(
          () => ({ model: { terms: [], commit: 0, snapshot: 0 }, real: { log: new RaftLog(0, 0, []) } }),
          cmds,
        );
      }),
      fcParams(200),
    );
  });

  it('gives the fast-backtracking hint of Raft §5.3', () => {
    const log = new RaftLog(0, 0, [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 2)]);
    assert.deepEqual(log.maybeAppend(4, 3, []), { ok: false, conflictIndex: 3, conflictTerm: 2 });
    assert.deepEqual(log.maybeAppend(9, 3, []), { ok: false, conflictIndex: 6, conflictTerm: null });
  });
});
