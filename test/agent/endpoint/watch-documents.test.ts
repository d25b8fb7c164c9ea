// Proves the pure parts of a watch: WatchFollower takes a document that continues its revision,
// ignores a duplicate or late copy, reports a gap (something lost) and an inconsistent document;
// fitWatchDocument cuts by whole revisions (a transaction's changes stay together) within the
// byte bound, names the range it covers, and reports a revision too large alone.
import { strict as assert } from 'node:assert';
import { fitWatchDocument, WatchFollower, type WatchDocument } from '../../../agent/endpoint/watch-documents.js';
import type { KvChangeEvent } from '../../../agent/kv/index.js';

const event = (key: string, revision: number, value = 'v'): KvChangeEvent => ({
  type: 'put',
  key,
  value: Buffer.from(value),
  revision,
});
const encode = (d: WatchDocument): Uint8Array => Buffer.from(JSON.stringify(d));
const doc = (since: number, revision: number, revisions: number[] = []): WatchDocument => ({
  since,
  revision,
  events: revisions.map((r) => ({ type: 'put', key: 'k', value: 'v', revision: r })),
  more: false,
});

describe('watch documents', () => {
  it('follows by range: takes the next, ignores duplicates, reports gaps and inconsistencies', () => {
    const follower = new WatchFollower(10);
    assert.deepEqual(follower.accept(doc(10, 12, [11, 12])).kind, 'events');
    assert.equal(follower.last, 12);
    assert.equal(follower.accept(doc(10, 12, [11, 12])).kind, 'duplicate', 'a retransmitted copy');
    assert.equal(follower.accept(doc(12, 12)).kind, 'duplicate', 'an empty answer at the same revision');
    assert.deepEqual(follower.accept(doc(14, 15, [15])), { kind: 'gap', last: 12 }, '(12, 14] was lost');
    assert.equal(follower.last, 12, 'a gap takes nothing');
    assert.equal(follower.accept(doc(12, 13, [14])).kind, 'invalid');
    assert.equal(follower.accept(doc(12, 14, [14, 13])).kind, 'invalid');
    assert.equal(follower.accept(doc(12, 20)).kind, 'events', 'a range with no matching change moves on');
    assert.equal(follower.last, 20);
  });

  it('fits whole revisions within the bound and reports one too large alone', () => {
    const events = [event('a', 5), event('b', 5), event('c', 6), event('d', 7)];
    const all = fitWatchDocument(4, events, 9, false, encode, 10_000);
    assert.ok(all.kind === 'fits');
    assert.deepEqual([all.document.since, all.document.revision, all.document.more], [4, 9, false]);
    const size = (n: number): number => {
      const fitted = fitWatchDocument(4, events.slice(0, n), 9, true, encode, 1e9);
      assert.ok(fitted.kind === 'fits');
      return fitted.payload.length;
    };
    const cut = fitWatchDocument(4, events, 9, false, encode, size(3));
    assert.ok(cut.kind === 'fits');
    assert.deepEqual(
      cut.document.events.map((e) => e.key),
      ['a', 'b', 'c'],
    );
    assert.deepEqual([cut.document.revision, cut.document.more], [6, true], 'ends at the last revision it holds');
    const split = fitWatchDocument(4, events, 9, false, encode, size(1) + 5);
    assert.ok(split.kind === 'too-large', 'revision 5 has two changes and they are never split');
    assert.equal(split.revision, 5);
    assert.ok(fitWatchDocument(4, events, 9, false, encode, size(2)).kind === 'fits');
  });
});
