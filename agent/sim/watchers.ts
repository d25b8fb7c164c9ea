/**
 * Watch clients in the simulator: each follows a target (every key, or one key) through the
 * endpoint's own watch code (WatchFeed on the node's applied state, fitWatchDocument, and the
 * client's WatchFollower) over a channel that loses, duplicates and delays notifications and
 * loses acknowledgements (a lost one drops the observer, as CoAP's retransmissions running out
 * would; half the lost notifications go unnoticed by the sender, so the client must find the
 * gap). A watch dies with its node's crash; the client registers again, at a random running
 * node, with since = the last revision it holds, after a gap, a drop, or `silenceMs` without a
 * notification. At the end `checkWatchers` (watch-check.ts) compares what each one took with the
 * committed changes.
 */
import type { SeededPrng } from '../../contracts/prng.js';
import { decodeKvResult, encodeKvQuery } from '../kv/index.js';
import type { KvChangesQuery } from '../kv/index.js';
import { fitWatchDocument, WatchFollower } from '../endpoint/watch-documents.js';
import type { WatchDocument, WatchEventDocument, WatchTarget } from '../endpoint/watch-documents.js';
import { WatchFeed } from '../endpoint/watch-feed.js';
import type { SimCluster } from './cluster.js';
import type { VirtualTimers } from './virtual-time.js';

/** One simulated watch client and what it took. */
export interface SimWatcher {
  readonly name: string;
  readonly target: WatchTarget;
  /** The revision it started after. */
  start: number;
  follower: WatchFollower;
  readonly events: WatchEventDocument[];
  /** Registrations made (the first included). */
  registrations: number;
  /** The current registration: its node and incarnation, and its id at that node's feed. */
  at: { readonly node: string; readonly incarnation: number; readonly id: string } | null;
  lastHeardMs: number;
}

/** Limits and rates of the watch clients. */
export interface SimWatcherOptions {
  readonly notificationBytesMax: number;
  readonly silenceMs: number;
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly delayMaxMs: number;
  /**
   * Test-only, deliberately broken: take a document after a gap instead of registering again
   * (changes are lost), to prove that the check catches it.
   */
  readonly unsafeAcceptGaps?: boolean;
}

const encoder = new TextEncoder();
const encode = (document: WatchDocument): Uint8Array => encoder.encode(JSON.stringify(document));

/** The watch clients of a run; see the module comment. */
export class SimWatchers {
  readonly watchers: SimWatcher[] = [];
  private readonly feeds = new Map<string, { readonly incarnation: number; readonly feed: WatchFeed }>();
  private running = false;
  private nextId = 0;

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    private readonly prng: SeededPrng,
    private readonly options: SimWatcherOptions,
  ) {}

  /** Starts `count` watchers: the first on every key, the others on one key each. */
  start(count: number, keyCount: number): void {
    this.running = true;
    for (let i = 0; i < count; i += 1) {
      const target = i === 0 ? { prefix: '', exact: false } : { prefix: `k${i % keyCount}`, exact: true };
      const watcher: SimWatcher = {
        name: `w${i}`,
        target,
        start: -1,
        follower: new WatchFollower(0),
        events: [],
        registrations: 0,
        at: null,
        lastHeardMs: 0,
      };
      this.watchers.push(watcher);
    }
    this.tick();
  }

  stop(): void {
    this.running = false;
  }

  private tick(): void {
    if (!this.running) return;
    for (const [nodeId, held] of [...this.feeds]) {
      // A crashed node's feed is gone with it (its watches die silently, as in a real crash).
      const live =
        this.cluster.node(nodeId) !== null && this.cluster.nodes.get(nodeId)?.incarnation === held.incarnation;
      if (live) held.feed.onApply();
      else this.feeds.delete(nodeId);
    }
    for (const watcher of this.watchers) {
      const at = watcher.at;
      const alive = at !== null && this.cluster.nodes.get(at.node)?.incarnation === at.incarnation;
      const silent = this.timers.nowMs() - watcher.lastHeardMs >= this.options.silenceMs;
      if (!alive || silent) this.register(watcher);
    }
    this.timers.setTimer(5, () => this.tick());
  }

  private feedOf(nodeId: string): WatchFeed | null {
    const slot = this.cluster.nodes.get(nodeId);
    const node = this.cluster.node(nodeId);
    if (slot === undefined || node === null) return null;
    const held = this.feeds.get(nodeId);
    if (held !== undefined && held.incarnation === slot.incarnation) return held.feed;
    const feed = new WatchFeed(
      {
        // A crashed node answers nothing more (a pump it deferred before the crash finds no change).
        read: (query: KvChangesQuery) =>
          this.cluster.node(nodeId) === node && node.isRunning()
            ? decodeKvResult(node.readLocal(encodeKvQuery(query)))
            : { type: 'changes', events: [], more: false, storeRevision: 0 },
        defer: (action) => void this.timers.setTimer(0, action),
      },
      { notificationBytesMax: this.options.notificationBytesMax, watchesMax: 64 },
    );
    this.feeds.set(nodeId, { incarnation: slot.incarnation, feed });
    return feed;
  }

  /** Ends the watcher's registration (at its node too). */
  private detach(watcher: SimWatcher): void {
    if (watcher.at !== null) this.feeds.get(watcher.at.node)?.feed.remove(watcher.at.id);
    watcher.at = null;
  }

  /** Registers `watcher` at a random running full member from its last revision (a stale, local read). */
  private register(watcher: SimWatcher): void {
    this.detach(watcher);
    watcher.lastHeardMs = this.timers.nowMs();
    // Never at a witness: it holds no values, and its endpoint refuses watches (witness-guard.ts).
    const live = this.cluster.running().filter((n) => n.isRunning() && !n.isWitness());
    if (live.length === 0) return;
    const node = live[this.prng.intBetween(0, live.length)];
    if (node === undefined) return;
    const feed = this.feedOf(node.getNodeId());
    if (feed === null) return;
    const since = watcher.start < 0 ? Number.MAX_SAFE_INTEGER : watcher.follower.last;
    const result = decodeKvResult(node.readLocal(encodeKvQuery(feed.query(watcher.target, since))));
    if (result.type !== 'changes') return;
    if (watcher.start < 0) {
      watcher.start = result.storeRevision ?? 0;
      watcher.follower = new WatchFollower(watcher.start);
      return this.register(watcher);
    }
    const fitted = fitWatchDocument(
      since,
      result.events,
      result.storeRevision ?? 0,
      result.more,
      encode,
      this.options.notificationBytesMax,
    );
    if (fitted.kind !== 'fits') return;
    watcher.registrations += 1;
    if (!this.take(watcher, fitted.document)) return;
    const id = `${watcher.name}#${this.nextId++}`;
    const slot = this.cluster.nodes.get(node.getNodeId());
    watcher.at = { node: node.getNodeId(), incarnation: slot?.incarnation ?? -1, id };
    feed.add(id, watcher.target, fitted.document.revision, {
      encode,
      end: () => {
        if (watcher.at?.id === id) watcher.at = null;
      },
      send: (document) => this.deliver(watcher, id, document),
    });
  }

  /** Takes a document; false after a gap (the caller registers again). */
  private take(watcher: SimWatcher, document: WatchDocument): boolean {
    watcher.lastHeardMs = this.timers.nowMs();
    let step = watcher.follower.accept(document);
    if (step.kind === 'gap' && this.options.unsafeAcceptGaps === true) {
      watcher.follower = new WatchFollower(document.since);
      step = watcher.follower.accept(document);
    }
    if (step.kind === 'events') watcher.events.push(...step.events);
    if (step.kind === 'invalid') throw new Error(`watch ${watcher.name}: ${step.reason}`);
    return step.kind !== 'gap';
  }

  /** The lossy channel: resolves true when the notification and its acknowledgement got through. */
  private deliver(watcher: SimWatcher, id: string, document: WatchDocument): Promise<boolean> {
    const o = this.options;
    const lost = this.prng.chance(o.lossRate);
    const copies = lost ? 0 : this.prng.chance(o.duplicateRate) ? 2 : 1;
    // Half the losses go unnoticed by the sender, as a notification sent non-confirmable (when
    // the server's notificationsPendingMax is reached) would: the client sees the gap.
    const ackLost = lost ? this.prng.chance(0.5) : this.prng.chance(o.lossRate);
    for (let i = 0; i < copies; i += 1)
      this.timers.setTimer(this.prng.intBetween(1, o.delayMaxMs + 1), () => {
        if (watcher.at?.id === id && !this.take(watcher, document)) this.detach(watcher);
      });
    return new Promise((resolve) =>
      this.timers.setTimer(o.delayMaxMs * 2, () => resolve(!ackLost && watcher.at?.id === id)),
    );
  }
}
