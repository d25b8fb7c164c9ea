/**
 * The check of the simulator's watch clients (watchers.ts): what each took must equal the
 * committed changes to its target in the revisions it covers, (start, last], in revision order,
 * nothing missing and nothing repeated; and once the cluster has healed, each must have caught up
 * with the store. The committed changes are read from a node that applied the whole log, through
 * its history window (every change it applied, in revision order), page by page.
 */
import { decodeKvResult, encodeKvQuery, LIST_ITEMS_MAX } from '../kv/index.js';
import type { KvChangeEvent } from '../kv/index.js';
import type { SimWatcher } from './watchers.js';

/** A node's local queries (RaftNodeImpl.readLocal). */
export interface LocalReader {
  readLocal(query: Uint8Array): Uint8Array;
}

/** Most pages read for one watcher's reference (each up to LIST_ITEMS_MAX changes). */
const REFERENCE_PAGES_MAX = 10_000;

/** The committed changes to `watcher`'s target after its start, or a reason why they cannot be read. */
function referenceOf(node: LocalReader, watcher: SimWatcher): KvChangeEvent[] | string {
  const events: KvChangeEvent[] = [];
  let since = watcher.start;
  for (let page = 0; page < REFERENCE_PAGES_MAX; page += 1) {
    const query = encodeKvQuery({
      op: 'changes',
      since,
      prefix: watcher.target.prefix,
      exact: watcher.target.exact,
      limit: LIST_ITEMS_MAX,
    });
    const result = decodeKvResult(node.readLocal(query));
    if (result.type === 'error') return result.message;
    if (result.type !== 'changes') return `unexpected ${result.type} result`;
    events.push(...result.events);
    if (!result.more) return events;
    since = result.events.at(-1)?.revision ?? since;
  }
  return 'too many pages';
}

/**
 * True when every watcher that started has caught up with `node`'s applied history: no committed
 * change to its target lies after the last revision it holds (or its start fell out of the window).
 */
export function watchersCaughtUp(node: LocalReader, watchers: readonly SimWatcher[]): boolean {
  return watchers.every((watcher) => {
    if (watcher.start < 0) return true;
    const reference = referenceOf(node, watcher);
    return typeof reference === 'string' || !reference.some((e) => e.revision > watcher.follower.last);
  });
}

const describe = (e: { type: string; key: string; revision: number }): string => `${e.type} ${e.key}@${e.revision}`;

/** The violations of `watchers` against `node`'s applied history (`storeRevision`: where they must have got to). */
export function checkWatchers(node: LocalReader, watchers: readonly SimWatcher[], storeRevision: number): string[] {
  const violations: string[] = [];
  for (const watcher of watchers) {
    if (watcher.start < 0) continue;
    const reference = referenceOf(node, watcher);
    // The window forgot the start: the run outlived the history window (not a watch failure).
    if (typeof reference === 'string') continue;
    const last = watcher.follower.last;
    const expected = reference.filter((e) => e.revision <= last).map(describe);
    const took = watcher.events.map(describe);
    const firstDifference = expected.findIndex((e, i) => took[i] !== e);
    if (took.length !== expected.length || firstDifference >= 0)
      violations.push(
        `watch ${watcher.name} (${watcher.target.exact ? 'key' : 'prefix'} '${watcher.target.prefix}', after ` +
          `${watcher.start}, up to ${last}) took ${took.length} changes, ${expected.length} were committed; ` +
          `first difference at ${firstDifference < 0 ? expected.length : firstDifference}: took ` +
          `${took[firstDifference] ?? took[expected.length] ?? 'nothing'}, ` +
          `committed ${expected[firstDifference] ?? 'nothing'}`,
      );
    else if (last < storeRevision && reference.some((e) => e.revision > last))
      violations.push(
        `watch ${watcher.name} did not catch up after healing: at ${last}, the store at ${storeRevision}`,
      );
  }
  return violations;
}
