// A test harness that runs several RaftCores in one process with instant persistence and a
// message queue the test controls: no runtime, no timers, no mocks. Used by the core tests. It
// keeps each node's persisted snapshot and reads InstallSnapshot chunks from it, as the runtime
// does (snapshot-chunks.ts).
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { RaftCore } from '../../../agent/core/raft.js';
import type { CoreOptions } from '../../../agent/core/raft.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { CoreInput, CoreOutboundRequest, Ready } from '../../../agent/core/ready.js';
import type { LogEntry, LogIndex, NodeId, Snapshot } from '../../../contracts/log.js';
import { ReceivedImages, onTheWire, refOf } from './snapshot-chunks.js';

export const TEST_OPTIONS: Omit<CoreOptions, 'id'> = {
  electionTimeoutMinTicks: 10,
  electionTimeoutMaxTicks: 20,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxEntriesPerAppend: 100,
  appendBytesMax: 1 << 20,
  inflightCountMax: 16,
  inflightBytesMax: 1 << 24,
  uncommittedBytesMax: 1 << 26,
  pendingReadsMax: 1024,
  snapshotChunkBytes: 1024,
  snapshotBytesMax: 1 << 26,
  applyBytesMax: 1 << 20,
};

/** A node's starting log: its current term and the term of each entry (index = position + 1). */
export interface StartLog {
  readonly term: number;
  readonly terms: readonly number[];
}

interface Pending {
  readonly requester: NodeId;
  readonly seq: number;
  readonly request: CoreOutboundRequest;
}

type Envelope = { readonly to: NodeId; readonly input: CoreInput };

export class CoreCluster {
  readonly cores = new Map<NodeId, RaftCore>();
  readonly applied = new Map<NodeId, LogEntry[]>();
  readonly readies = new Map<NodeId, Ready[]>();
  /** The snapshot each node persisted last (taken locally, or received from a leader). */
  readonly persisted = new Map<NodeId, Snapshot>();
  /** The images of the snapshots nodes receive, as the runtime writes them. */
  private readonly received = new ReceivedImages();
  /** Return true to drop a message from `from` to `to`. */
  drop: (from: NodeId, to: NodeId) => boolean = () => false;
  private readonly queue: Envelope[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextToken = 1;

  /** Return true to hold a request from `from` to `to` back (a slow link) until `release()`. */
  hold: (from: NodeId, to: NodeId) => boolean = () => false;
  private held: Envelope[] = [];

  /** Return true to drop this request (a finer filter than `drop`). */
  dropRequest: (from: NodeId, to: NodeId, request: CoreOutboundRequest) => boolean = () => false;

  constructor(
    ids: readonly NodeId[],
    seed = 1,
    options: Partial<CoreOptions> = {},
    starts: ReadonlyMap<NodeId, StartLog> = new Map(),
    witnesses: readonly NodeId[] = [],
  ) {
    const prng = new SeededPrng(seed);
    const bootstrap = simpleConfiguration(ids, [], witnesses);
    for (const id of ids) {
      const start = starts.get(id) ?? { term: 0, terms: [] };
      const entries = start.terms.map((term, i) => ({
        term,
        index: i + 1,
        type: 'command' as const,
        command: new TextEncoder().encode(`${id}@${i + 1}`),
      }));
      const core = new RaftCore(
        { prng: prng.fork() },
        { ...TEST_OPTIONS, ...options, id, ...(witnesses.includes(id) ? { witness: true } : {}) },
        { hardState: { currentTerm: start.term, votedFor: null }, snapshot: null, entries, bootstrap },
      );
      this.cores.set(id, core);
      this.applied.set(id, []);
      this.readies.set(id, []);
    }
  }

  core(id: NodeId): RaftCore {
    const core = this.cores.get(id);
    assert.ok(core, `core ${id}`);
    return core;
  }

  /** Delivers queued messages and handles every Ready until nothing moves. */
  stabilize(limit = 100_000): void {
    for (let round = 0; round < limit; round += 1) {
      let moved = false;
      for (const [id, core] of this.cores) {
        if (core.hasReady()) {
          this.handleReady(id, core.takeReady(), core);
          moved = true;
        }
      }
      const envelope = this.queue.shift();
      if (envelope !== undefined) {
        const result = this.core(envelope.to).step(envelope.input);
        assert.ok(result.ok, `step rejected: ${result.ok ? '' : result.reason}`);
        this.core(envelope.to).checkInvariants();
        moved = true;
      }
      if (!moved) return;
    }
    assert.fail('cluster did not stabilize');
  }

  /** Snapshot `snapshot` taken on `id` is persisted, then the core compacts before `compactBefore`. */
  compact(id: NodeId, snapshot: Snapshot, compactBefore: LogIndex): void {
    this.persisted.set(id, snapshot);
    this.core(id).compact(refOf(snapshot), compactBefore);
  }

  private handleReady(id: NodeId, ready: Ready, core: RaftCore): void {
    this.readies.get(id)?.push(ready);
    this.applied.get(id)?.push(...ready.committed);
    const received = this.received.take(id, ready);
    if (received !== null) this.persisted.set(id, received);
    for (const message of ready.messages) {
      if (message.kind === 'request') {
        const wire = onTheWire(message.request, this.persisted.get(id) ?? null);
        if (wire === null || this.drop(id, message.to) || this.dropRequest(id, message.to, message.request)) {
          // A lost request surfaces as the transport's timeout.
          this.queue.push({
            to: id,
            input: { kind: 'unreachable', to: message.to, seq: message.seq, request: message.request },
          });
          continue;
        }
        const token = this.nextToken;
        this.nextToken += 1;
        this.pending.set(token, { requester: id, seq: message.seq, request: message.request });
        const envelope: Envelope = {
          to: message.to,
          input: { kind: 'request', from: id, replyTo: token, request: wire },
        };
        if (this.hold(id, message.to)) this.held.push(envelope);
        else this.queue.push(envelope);
      } else {
        const pending = this.pending.get(message.replyTo);
        assert.ok(pending, 'a reply answers a pending request');
        this.pending.delete(message.replyTo);
        if (this.drop(id, pending.requester)) continue;
        // The harness pairs each response with its request, as the runtime does.
        this.queue.push({
          to: pending.requester,
          input: { kind: 'response', from: id, seq: pending.seq, request: pending.request, response: message.response },
        });
      }
    }
    core.advance(ready);
    core.checkInvariants();
  }

  /** Delivers the requests held back so far, in the order they were sent. */
  release(): void {
    this.queue.push(...this.held);
    this.held = [];
  }

  /** Ticks every core (or the given ones) `count` times, stabilizing after each tick. */
  tick(count = 1, ids: readonly NodeId[] = [...this.cores.keys()]): void {
    for (let i = 0; i < count; i += 1) {
      for (const id of ids) this.core(id).tick();
      this.stabilize();
    }
  }

  leaders(): NodeId[] {
    return [...this.cores].filter(([, core]) => core.getRole() === 'leader').map(([id]) => id);
  }

  /** Ticks until exactly one leader exists; returns it. */
  electLeader(maxTicks = 500): NodeId {
    for (let i = 0; i < maxTicks; i += 1) {
      this.tick();
      const leaders = this.leaders();
      if (leaders.length === 1 && leaders[0] !== undefined) return leaders[0];
    }
    return assert.fail('no leader elected');
  }
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A fresh core of the single-voter cluster of `id` (seeded 3), with an empty log: what leadAndApply drives. */
export function singleVoterCore(id: NodeId = 'a'): RaftCore {
  return new RaftCore(
    { prng: new SeededPrng(3) },
    { ...TEST_OPTIONS, id },
    {
      hardState: { currentTerm: 0, votedFor: null },
      snapshot: null,
      entries: [],
      bootstrap: simpleConfiguration([id]),
    },
  );
}

/** Drives a single-voter core until it leads and has applied `count` entries; returns them. */
export function leadAndApply(core: RaftCore, count: number): LogEntry[] {
  const applied: LogEntry[] = [];
  for (let tick = 0; tick < 200 && core.getRole() !== 'leader'; tick += 1) {
    core.tick();
    while (core.hasReady()) core.advance(core.takeReady());
  }
  assert.equal(core.getRole(), 'leader');
  for (let i = 0; i < count; i += 1) assert.ok(core.propose(new TextEncoder().encode(`entry ${i}`)).ok);
  while (core.hasReady()) {
    const ready = core.takeReady();
    applied.push(...ready.committed);
    core.advance(ready);
  }
  return applied;
}
