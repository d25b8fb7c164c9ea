/**
 * The notifications of watches (GET /watch with Observe): each watch holds a cursor into the
 * node's history window, and after every apply it is sent the changes after its cursor, one
 * notification at a time: the next goes only once the observer has acknowledged the one before
 * (watch notifications are all confirmable), so a slow observer is paced rather than queued for,
 * and nothing is held per watch but its cursor. A burst larger than one notification
 * (`notificationBytesMax`) goes out over several, by whole revisions (watch-documents.ts); a
 * single revision too large for one notification, or a cursor that fell out of the history
 * window, ends the watch with a final error that tells the observer what to do (fetch without
 * Observe, or start again). An observer that does not acknowledge is dropped by the sender
 * (observe.ts), and its watch with it.
 *
 * The feed reads the node's own applied state, whatever node leads: a leader change does not
 * touch it. It knows nothing of CoAP (the endpoint and the simulator give it a sink), so the
 * simulator runs this very code under lost, duplicated and delayed notifications.
 */
import { assert } from '../../contracts/assert.js';
import { LIST_ITEMS_MAX } from '../kv/index.js';
import type { KvChangesQuery, KvResult } from '../kv/index.js';
import { fitWatchDocument, type WatchDocument, type WatchTarget } from './watch-documents.js';

/** Why a watch ended. */
export type WatchEnd = 'compacted' | 'too-large' | 'failed';

/** Where one watch's notifications go. */
export interface WatchSink {
  /** Sends a notification; true once the observer has it, false when the observer is gone. */
  send(document: WatchDocument, payload: Uint8Array): Promise<boolean>;
  /** Ends the watch with a final error notification saying `text`. */
  end(reason: WatchEnd, text: string): void;
  /** Encodes a document in the observer's format. */
  encode(document: WatchDocument): Uint8Array;
}

/** Limits of the feed. */
export interface WatchFeedOptions {
  /** Most encoded bytes of one notification's payload. */
  readonly notificationBytesMax: number;
  /** Most watches held (the endpoint passes observersMax: every watch is an Observe registration). */
  readonly watchesMax: number;
}

/** What the feed is given. */
export interface WatchFeedDeps {
  /** Answers a changes query from the node's applied state (a local read). */
  readonly read: (query: KvChangesQuery) => KvResult;
  /** Runs `action` soon, after the current event (a zero timer). */
  readonly defer: (action: () => void) => void;
}

interface WatchState {
  readonly id: string;
  readonly target: WatchTarget;
  readonly sink: WatchSink;
  /** The revision the observer's last document ended at: the next one covers (sent, R]. */
  sent: number;
  /** Every change up to here was sent or does not match. Invariant: scanned >= sent. */
  scanned: number;
  /** A notification awaits its acknowledgement. */
  inFlight: boolean;
}

/** The smallest encoded event (JSON or CBOR): bounds the events read for one notification. */
const EVENT_BYTES_MIN = 20;

/** The watches of one node; see the module comment. */
export class WatchFeed {
  private readonly watches = new Map<string, WatchState>();
  private passScheduled = false;

  constructor(
    private readonly deps: WatchFeedDeps,
    private readonly options: WatchFeedOptions,
  ) {
    assert(options.notificationBytesMax >= 64, 'a notification holds at least one small event');
    assert(options.watchesMax >= 1, 'the feed holds at least one watch');
  }

  /** Watches held. */
  get size(): number {
    return this.watches.size;
  }

  /** The changes query for the next notification after `since` (also the size of a first answer). */
  query(target: WatchTarget, since: number): KvChangesQuery {
    const limit = Math.min(LIST_ITEMS_MAX, Math.ceil(this.options.notificationBytesMax / EVENT_BYTES_MIN));
    const bytesMax = this.options.notificationBytesMax;
    return { op: 'changes', since, prefix: target.prefix, exact: target.exact, limit, bytesMax };
  }

  /**
   * Starts (or restarts, under the same id) a watch whose observer holds every change up to
   * `position`; false when `watchesMax` watches are held already.
   */
  add(id: string, target: WatchTarget, position: number, sink: WatchSink): boolean {
    this.watches.delete(id);
    if (this.watches.size >= this.options.watchesMax) return false;
    const state: WatchState = { id, target, sink, sent: position, scanned: position, inFlight: false };
    this.watches.set(id, state);
    this.deps.defer(() => this.pump(state));
    return true;
  }

  /** Forgets a watch (its observer left); a notification in flight is ignored when it settles. */
  remove(id: string): void {
    this.watches.delete(id);
  }

  /** The node applied entries: every watch is sent what it lacks, after the current event. */
  onApply(): void {
    if (this.passScheduled || this.watches.size === 0) return;
    this.passScheduled = true;
    this.deps.defer(() => {
      this.passScheduled = false;
      for (const state of this.watches.values()) this.pump(state);
    });
  }

  private pump(state: WatchState): void {
    if (state.inFlight || this.watches.get(state.id) !== state) return;
    const result = this.deps.read(this.query(state.target, state.scanned));
    if (result.type === 'error')
      return this.finish(state, result.code === 'KV_COMPACTED' ? 'compacted' : 'failed', result.message);
    if (result.type !== 'changes') return this.finish(state, 'failed', `unexpected ${result.type} result`);
    const storeRevision = Math.max(state.scanned, result.storeRevision ?? 0);
    if (result.events.length === 0) {
      state.scanned = storeRevision;
      return;
    }
    const max = this.options.notificationBytesMax;
    const encode = (document: WatchDocument): Uint8Array => state.sink.encode(document);
    const fitted = fitWatchDocument(state.sent, result.events, storeRevision, result.more, encode, max);
    if (fitted.kind === 'too-large')
      return this.finish(
        state,
        'too-large',
        `the changes at revision ${fitted.revision} (${fitted.bytes} bytes) exceed one notification ` +
          `(notificationBytesMax ${max}): GET /watch with since=${state.sent} without Observe (block-wise), ` +
          `then observe from its revision`,
      );
    state.inFlight = true;
    const revision = fitted.document.revision;
    void state.sink.send(fitted.document, fitted.payload).then((delivered) => {
      if (this.watches.get(state.id) !== state) return;
      state.inFlight = false;
      if (!delivered) return void this.watches.delete(state.id);
      state.sent = revision;
      state.scanned = Math.max(state.scanned, revision);
      this.deps.defer(() => this.pump(state));
    });
  }

  private finish(state: WatchState, reason: WatchEnd, text: string): void {
    this.watches.delete(state.id);
    state.sink.end(reason, text);
  }
}
