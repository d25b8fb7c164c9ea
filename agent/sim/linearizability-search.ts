/**
 * The data structures of the linearizability search (linearizability.ts): the doubly linked list
 * of invoke and completion events that the search lifts operations out of and puts them back
 * into (Knuth's dancing links, as in Porcupine), and the wording of operations in verdicts.
 */
import { assert } from '../../contracts/assert.js';
import type { HistoryOperation } from './history.js';

/** The events of one key in time order, as a doubly linked list with head and tail sentinels. */
export class EventList {
  private readonly nextOf: Int32Array;
  private readonly prevOf: Int32Array;
  /** The operation of each entry; -1 for the sentinels. */
  private readonly opOfEntry: Int32Array;
  private readonly isInvokeEntry: Uint8Array;
  private readonly invokeEntryOf: Int32Array;
  private readonly completionEntryByOp: Int32Array;
  private readonly tail: number;

  constructor(order: readonly { readonly op: number; readonly invoke: boolean }[], opCount: number) {
    const size = order.length + 2;
    this.tail = size - 1;
    this.nextOf = new Int32Array(size);
    this.prevOf = new Int32Array(size);
    this.opOfEntry = new Int32Array(size).fill(-1);
    this.isInvokeEntry = new Uint8Array(size);
    this.invokeEntryOf = new Int32Array(opCount).fill(-1);
    this.completionEntryByOp = new Int32Array(opCount).fill(-1);
    for (let e = 0; e < size; e += 1) {
      this.nextOf[e] = Math.min(e + 1, this.tail);
      this.prevOf[e] = Math.max(e - 1, 0);
    }
    order.forEach((event, i) => {
      const e = i + 1;
      this.opOfEntry[e] = event.op;
      this.isInvokeEntry[e] = event.invoke ? 1 : 0;
      if (event.invoke) this.invokeEntryOf[event.op] = e;
      else this.completionEntryByOp[event.op] = e;
    });
  }

  /** The first event still in the list (the tail sentinel when empty). */
  first(): number {
    return this.nextOf[0] ?? this.tail;
  }

  next(entry: number): number {
    return this.nextOf[entry] ?? this.tail;
  }

  /** The operation of `entry`; -1 for a sentinel. */
  opOf(entry: number): number {
    return this.opOfEntry[entry] ?? -1;
  }

  isInvoke(entry: number): boolean {
    return this.isInvokeEntry[entry] === 1;
  }

  invokeEntry(op: number): number {
    const entry = this.invokeEntryOf[op] ?? -1;
    assert(entry > 0, 'every operation has an invoke entry');
    return entry;
  }

  /** Unlinks both events of `op`. */
  lift(op: number): void {
    this.unlink(this.invokeEntry(op));
    this.unlink(this.completionEntryOf(op));
  }

  /** Relinks both events of `op`; the reverse of the matching lift, done last-lifted-first. */
  unlift(op: number): void {
    this.relink(this.completionEntryOf(op));
    this.relink(this.invokeEntry(op));
  }

  /** The operations of up to `max` invoke events between the head and `entry`. */
  invokesBefore(entry: number, max: number): number[] {
    const ops: number[] = [];
    for (let e = this.first(); e !== entry && e !== this.tail && ops.length < max; e = this.next(e)) {
      if (this.isInvoke(e)) ops.push(this.opOf(e));
    }
    return ops;
  }

  /** The completion entry of `op`. */
  completionEntryOf(op: number): number {
    const entry = this.completionEntryByOp[op] ?? -1;
    assert(entry > 0, 'every operation has a completion entry');
    return entry;
  }

  private unlink(e: number): void {
    const prev = this.prevOf[e] ?? 0;
    const next = this.nextOf[e] ?? this.tail;
    this.nextOf[prev] = next;
    this.prevOf[next] = prev;
  }

  private relink(e: number): void {
    const prev = this.prevOf[e] ?? 0;
    const next = this.nextOf[e] ?? this.tail;
    this.nextOf[prev] = e;
    this.prevOf[next] = e;
  }
}

/**
 * Builds the event list of `ops`: by time, invokes before completions at equal times (touching
 * operations are concurrent), then by operation index, so the order is deterministic.
 */
export function buildEventList(ops: readonly HistoryOperation[]): EventList {
  const order = ops.flatMap((op, i) => [
    { op: i, invoke: true, t: op.invokeMs },
    { op: i, invoke: false, t: op.completeMs },
  ]);
  order.sort((a, b) => a.t - b.t || (a.invoke === b.invoke ? 0 : a.invoke ? -1 : 1) || a.op - b.op);
  return new EventList(order, ops.length);
}

function formatTime(ms: number): string {
  return Number.isFinite(ms) ? String(ms) : '∞';
}

/** One operation in words, e.g. `client 3 #9 get -> "a" [13, 20] ok`. */
export function describeOperation(op: HistoryOperation): string {
  const what =
    op.op === 'get'
      ? `get -> ${JSON.stringify(op.output)}`
      : op.op === 'delete'
        ? 'delete'
        : `${op.op} ${JSON.stringify(op.value)}`;
  return (
    `client ${JSON.stringify(op.client)} #${op.id} ${what} ` +
    `[${formatTime(op.invokeMs)}, ${formatTime(op.completeMs)}] ${op.status}`
  );
}
