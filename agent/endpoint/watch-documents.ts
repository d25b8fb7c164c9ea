/**
 * The documents of a watch (GET /watch): `{"since":S,"revision":R,"events":[...],"more":bool}`
 * covers exactly the changes in (S, R] to the watched keys, in revision order, each event
 * `{"type":"put"|"delete","key":K,"value":V|"valueBase64":B,"revision":r}`. The range is what
 * makes a watch exact over CoAP: an Observe registration's first answer covers (since, R1], and
 * each notification continues where the one before ended (its S is the R before), so a client
 * that holds revision L takes a document with S = L, ignores one with R <= L (a duplicate or a
 * late copy), and on any other (S > L: something was lost) registers again with since = L.
 *
 * `fitWatchDocument` cuts a read of the history window to one notification of at most
 * `bytesMax` encoded bytes, by whole revisions (a transaction's changes are never split), so a
 * burst goes out over several notifications; a single revision that does not fit alone is
 * reported, and the caller tells the observer to fetch it without Observe (Block2).
 */
import { assert } from '../../contracts/assert.js';
import type { KvChangeEvent } from '../kv/index.js';
import { valueField } from './documents.js';

/** What a watch follows: the keys under `prefix`, or the key `prefix` alone when `exact`. */
export interface WatchTarget {
  readonly prefix: string;
  readonly exact: boolean;
}

/** One event of a watch document. */
export type WatchEventDocument = {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
} & ({ readonly value?: string } | { readonly valueBase64?: string });

/** A watch document; see the module comment. */
export interface WatchDocument {
  readonly since: number;
  readonly revision: number;
  readonly events: readonly WatchEventDocument[];
  readonly more: boolean;
}

/** A change of the history window as a document event. */
export function watchEventDocument(event: KvChangeEvent): WatchEventDocument {
  return {
    type: event.type,
    key: event.key,
    ...(event.value === null ? {} : valueField(event.value)),
    revision: event.revision,
  };
}

/** How a read of the history window fits one notification. */
export type FittedWatch =
  | { readonly kind: 'fits'; readonly document: WatchDocument; readonly payload: Uint8Array }
  /** The changes at `revision` (the first after `since`) alone exceed the bound. */
  | { readonly kind: 'too-large'; readonly revision: number; readonly bytes: number };

/**
 * The document for the changes after `since`: `events` (whole revisions, in order, read from the
 * window up to `storeRevision`; `more` when later changes match too), cut by whole revisions to
 * at most `bytesMax` encoded bytes. R is the last event's revision when anything is left out,
 * else max(since, storeRevision).
 */
export function fitWatchDocument(
  since: number,
  events: readonly KvChangeEvent[],
  storeRevision: number,
  more: boolean,
  encode: (document: WatchDocument) => Uint8Array,
  bytesMax: number,
): FittedWatch {
  const ends = revisionEnds(events);
  const documentOf = (groups: number): WatchDocument => {
    const all = groups === ends.length;
    const end = groups === 0 ? 0 : (ends[groups - 1] ?? 0);
    const kept = events.slice(0, end);
    const last = kept.at(-1);
    const revision = all && !more ? Math.max(since, storeRevision) : (last?.revision ?? since);
    return { since, revision, events: kept.map(watchEventDocument), more: !all || more };
  };
  // The most whole revisions that fit: binary search over the group count (encoding is monotonic in it).
  let low = 1;
  let high = ends.length;
  let best: { document: WatchDocument; payload: Uint8Array } | null = null;
  if (ends.length === 0) {
    const document = documentOf(0);
    return { kind: 'fits', document, payload: encode(document) };
  }
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const document = documentOf(middle);
    const payload = encode(document);
    if (payload.length <= bytesMax) {
      best = { document, payload };
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (best === null) {
    const first = documentOf(1);
    return { kind: 'too-large', revision: first.events[0]?.revision ?? since, bytes: encode(first).length };
  }
  assert(best.document.revision >= since, 'a watch document ends at or after its start');
  return { kind: 'fits', ...best };
}

/** The end index (exclusive) of each revision's run of events. */
function revisionEnds(events: readonly KvChangeEvent[]): number[] {
  const ends: number[] = [];
  events.forEach((event, i) => {
    const next = events[i + 1];
    assert(next === undefined || next.revision >= event.revision, 'watch events in revision order');
    if (next === undefined || next.revision !== event.revision) ends.push(i + 1);
  });
  return ends;
}

/** What a follower makes of a document. */
export type FollowStep<E> =
  | { readonly kind: 'events'; readonly events: readonly E[] }
  | { readonly kind: 'duplicate' }
  /** Changes after `last` were lost: register again with since = last. */
  | { readonly kind: 'gap'; readonly last: number }
  /** The document contradicts itself (an event outside its range): a broken server. */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * The client's side of exactly once: it holds the revision up to which it has every change
 * (`last`) and takes each document by its range (see the module comment). Pure; the CLI and the
 * simulator's watch clients use it.
 */
export class WatchFollower {
  constructor(private position: number) {
    assert(Number.isSafeInteger(position) && position >= 0, 'a watch starts at a revision');
  }

  /** The revision up to which every change was taken. */
  get last(): number {
    return this.position;
  }

  /** Takes a document covering (since, revision]. */
  accept<E extends { readonly revision: number }>(document: {
    readonly since: number;
    readonly revision: number;
    readonly events: readonly E[];
  }): FollowStep<E> {
    let previous = document.since;
    for (const event of document.events) {
      if (event.revision <= document.since || event.revision > document.revision || event.revision < previous)
        return {
          kind: 'invalid',
          reason: `event at ${event.revision} outside (${document.since}, ${document.revision}] or out of order`,
        };
      previous = event.revision;
    }
    if (document.revision <= this.position) return { kind: 'duplicate' };
    if (document.since !== this.position) return { kind: 'gap', last: this.position };
    this.position = document.revision;
    return { kind: 'events', events: document.events };
  }
}
