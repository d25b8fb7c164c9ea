/**
 * The history window of the KV state machine: the changes of the most recent revisions (a put
 * with the value written, or a delete), for watches that resume from a revision. It holds every
 * change with a revision above `compactedRevision`, in revision order (the changes of one
 * transaction share its revision, in the order it made them), and forgets the oldest revisions,
 * whole, once it holds more than `historyRevisionsMax` revisions or `historyBytesMax` key and
 * value bytes. Deterministic: it depends only on the log, so every replica holds the same window,
 * and a snapshot carries it.
 */
import { assert } from '../../contracts/assert.js';
import { FrontQueue } from '../../contracts/front-queue.js';
import { utf8Length } from './store.js';
import type { KvChangeEvent, KvOperation, KvResult, KvVersioned } from './types.js';

/** One change: a put (value: the bytes written) or a delete (value: null). */
export interface KvChange {
  readonly revision: number;
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** The window's limits. */
export interface KvHistoryLimits {
  /** Most revisions kept (a revision may hold several changes: a transaction). 0 keeps none. */
  readonly historyRevisionsMax: number;
  /** Most key and value bytes kept. */
  readonly historyBytesMax: number;
}

/** What a reader asked for, read from the window. */
export type KvChangesRead =
  | { readonly kind: 'changes'; readonly changes: readonly KvChange[]; readonly more: boolean }
  | { readonly kind: 'compacted'; readonly oldest: number };

function sizeOf(change: KvChange): number {
  return utf8Length(change.key) + (change.value?.length ?? 0);
}

/** The window; see the module comment. */
export class KvHistory {
  /**
   * Invariant: revisions non-decreasing, all above compactedRevision. The queue keeps no change it
   * forgot (a forgotten change kept would keep its value: 46 MiB of 64 KiB values beyond
   * historyBytesMax on a leader under 256 clients, when this window dropped changes on its own).
   */
  private readonly changes = new FrontQueue<KvChange>();
  private bytes = 0;
  private revisions = 0;
  /** Every change with a revision above it is kept. */
  private compacted = 0;

  constructor(private readonly limits: KvHistoryLimits) {}

  /** The revision below which changes are forgotten: `since` must be at least this. */
  get compactedRevision(): number {
    return this.compacted;
  }

  /** Records the changes of one log entry (all at `revision`, above every recorded one). */
  record(revision: number, changes: readonly KvChange[]): void {
    if (changes.length === 0) return;
    const last = this.changes.last();
    assert(last === undefined || last.revision < revision, 'history revisions increase');
    for (const change of changes) {
      assert(change.revision === revision, 'the changes of one entry share its revision');
      this.changes.push(change);
      this.bytes += sizeOf(change);
    }
    this.revisions += 1;
    this.trim();
  }

  private trim(): void {
    while (
      this.changes.length > 0 &&
      (this.revisions > this.limits.historyRevisionsMax || this.bytes > this.limits.historyBytesMax)
    ) {
      const revision = this.changes.first()?.revision ?? 0;
      for (let change = this.changes.first(); change?.revision === revision; change = this.changes.first()) {
        this.bytes -= sizeOf(change);
        this.changes.shift();
      }
      this.revisions -= 1;
      this.compacted = revision;
    }
  }

  /**
   * The changes after revision `since` whose key `matches`, in order, at most `limit` changes
   * and about `bytesMax` bytes, never splitting a revision (a revision's changes come whole);
   * `compacted` when changes after `since` were forgotten.
   */
  read(since: number, matches: (key: string) => boolean, limit: number, bytesMax: number): KvChangesRead {
    if (since < this.compacted) return { kind: 'compacted', oldest: this.compacted };
    const out: KvChange[] = [];
    let bytes = 0;
    let index = this.firstAfter(since);
    while (index < this.changes.length) {
      const revision = this.changes.at(index)?.revision ?? 0;
      const group: KvChange[] = [];
      for (let change = this.changes.at(index); change?.revision === revision; change = this.changes.at(index)) {
        if (matches(change.key)) group.push(change);
        index += 1;
      }
      const size = group.reduce((sum, change) => sum + sizeOf(change), 0);
      if (out.length > 0 && (out.length + group.length > limit || bytes + size > bytesMax))
        return { kind: 'changes', changes: out, more: true };
      out.push(...group);
      bytes += size;
    }
    return { kind: 'changes', changes: out, more: false };
  }

  private firstAfter(since: number): number {
    let low = 0;
    let high = this.changes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.changes.at(middle)?.revision ?? 0) <= since) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The window, oldest first, for a snapshot. */
  list(): readonly KvChange[] {
    return this.changes.toArray();
  }

  /** Replaces the window (from a snapshot). */
  load(compactedRevision: number, changes: readonly KvChange[]): void {
    this.changes.clear();
    this.bytes = 0;
    this.revisions = 0;
    this.compacted = compactedRevision;
    let revision = -1;
    for (const change of changes) {
      assert(change.revision > compactedRevision && change.revision >= revision, 'history is in revision order');
      if (change.revision !== revision) this.revisions += 1;
      revision = change.revision;
      this.changes.push(change);
      this.bytes += sizeOf(change);
    }
    this.trim();
  }

  /** Checks the accounting and order; `storeRevision` bounds every change. */
  checkInvariants(storeRevision: number): void {
    let bytes = 0;
    let revisions = 0;
    let previous = this.compacted;
    for (const change of this.list()) {
      assert(change.revision > this.compacted && change.revision <= storeRevision, 'history within the window');
      assert(change.revision >= previous, 'history in revision order');
      if (change.revision !== previous) revisions += 1;
      previous = change.revision;
      bytes += sizeOf(change);
    }
    assert(bytes === this.bytes, 'history bytes match');
    assert(revisions === this.revisions, 'history revision count matches');
    assert(this.compacted <= storeRevision, 'the compaction point is not beyond the store');
  }
}

/** The changes a command made at `revision`, from its operation and result (none for an error or a read). */
export function changesOf(operation: KvOperation, result: KvResult, revision: number): KvChange[] {
  switch (result.type) {
    case 'put':
    case 'cas':
      if (operation.op !== 'put' && operation.op !== 'cas') return [];
      if (result.type === 'cas' && !result.succeeded) return [];
      return [{ revision, key: operation.key, value: operation.value }];
    case 'delete':
      return result.deleted && operation.op === 'delete' ? [{ revision, key: operation.key, value: null }] : [];
    case 'txn': {
      if (operation.op !== 'txn') return [];
      const ops = result.succeeded ? operation.success : operation.failure;
      const changes: KvChange[] = [];
      result.results.forEach((outcome, i) => {
        const op = ops[i];
        if (op?.op === 'put') changes.push({ revision, key: op.key, value: op.value });
        if (op?.op === 'delete' && outcome.type === 'delete' && outcome.deleted)
          changes.push({ revision, key: op.key, value: null });
      });
      return changes;
    }
    default:
      return [];
  }
}

/**
 * The window of a restored snapshot with values the state owns: a change that is the write the
 * store holds (same key, revision and bytes) gets the stored value's own bytes, so that the store
 * and the window share them as they did when the change was applied (a window of 4 KiB writes
 * holds about 4 MiB: held twice after every restart otherwise); any other value that is a view of
 * the snapshot's `image` is copied, so that the window never keeps the image alive.
 */
export function restoredChanges(
  changes: readonly KvChange[],
  stored: (key: string) => KvVersioned | null,
  image: Uint8Array,
): KvChange[] {
  return changes.map((change) => {
    const { value } = change;
    if (value === null) return change;
    const current = stored(change.key);
    const bytes =
      current === null ? null : Buffer.from(current.value.buffer, current.value.byteOffset, current.value.length);
    if (current?.revision === change.revision && bytes?.equals(value) === true)
      return { revision: change.revision, key: change.key, value: current.value };
    return value.buffer === image.buffer
      ? { revision: change.revision, key: change.key, value: value.slice() }
      : change;
  });
}

/** A change as an event of a changes result. */
export function changeEvent(change: KvChange): KvChangeEvent {
  return {
    type: change.value === null ? 'delete' : 'put',
    key: change.key,
    value: change.value,
    revision: change.revision,
  };
}
