// The world of the core's interaction tests (after etcd-io/raft's rafttest.InteractionEnv, in
// our own design): RaftCores in one process, each with a storage that keeps what its Ready
// said to persist (so a node can restart from it), a state machine that applies its committed
// entries, and one network queue that holds messages until a script delivers or drops them.
// Nothing happens unless a script says so: no timer, no randomness but the seeded Prng given to
// each core. While it runs, the env checks two safety properties on its own: every node
// applies the same entry at an index (state machine safety) and a term has one leader
// (election safety); a violation throws and fails the script.
import { SeededPrng } from '../../../contracts/prng.js';
import { RaftCore } from '../../../agent/core/raft.js';
import type { CoreOptions, CoreStartState } from '../../../agent/core/raft.js';
import type { CoreInput, CoreOutboundRequest, Outbound, Ready } from '../../../agent/core/ready.js';
import { ReceivedImages, onTheWire, refOf } from './snapshot-chunks.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, Snapshot } from '../../../contracts/log.js';
import type { Machine, Storage } from './interaction-storage.js';
import { applyEntry, freshMachine, persist, snapshotAt } from './interaction-storage.js';
import {
  describeEntry,
  describeEvent,
  describeMessage,
  describeReady,
  describeRequest,
  describeResponse,
} from './interaction-format.js';

/** One node of the env. */
export interface EnvNode {
  readonly id: NodeId;
  readonly options: CoreOptions;
  readonly bootstrap: ClusterConfiguration;
  core: RaftCore;
  readonly storage: Storage;
  machine: Machine;
}

/** A message on the network. */
interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly input: CoreInput;
  readonly text: string;
}

/** A request the network delivered or will deliver, waiting for its response. */
interface PendingReply {
  readonly requester: NodeId;
  readonly responder: NodeId;
  readonly seq: number;
  readonly request: CoreOutboundRequest;
  delivered: boolean;
}

/** What a node starts from: what it persisted, its snapshot whole. */
export type EnvStart = Omit<CoreStartState, 'snapshot'> & { readonly snapshot: Snapshot | null };

/** Which messages a delivery takes: to any of `to` (all when empty), from `from` (any when null), the first `count`. */
export interface Selection {
  readonly to: readonly NodeId[];
  readonly from: NodeId | null;
  readonly count: number;
}

/** Rounds of `stabilize` before it gives up: a script that never settles is a bug. */
const STABILIZE_ROUNDS_MAX = 10_000;

export class InteractionEnv {
  readonly nodes = new Map<NodeId, EnvNode>();
  /** Messages in the order they were sent. */
  private messages: Envelope[] = [];
  private readonly pending = new Map<number, PendingReply>();
  private nextToken = 1;
  private readonly prng: SeededPrng;
  /** The partition group of each node; null when the network is whole. */
  private groups: Map<NodeId, number> | null = null;
  /** The entry each index was applied with on any node (state machine safety). */
  private readonly appliedAt = new Map<LogIndex, string>();
  /** The leader of each term seen (election safety). */
  private readonly leaderOf = new Map<number, NodeId>();
  /** The images of the snapshots nodes receive, as the runtime writes them. */
  private readonly received = new ReceivedImages();

  constructor(seed: number) {
    this.prng = new SeededPrng(seed);
  }

  node(id: NodeId): EnvNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Adds a node that starts from `start` (as if it had persisted that). */
  addNode(options: CoreOptions, start: EnvStart): EnvNode {
    if (this.nodes.has(options.id)) throw new Error(`node ${options.id} exists`);
    const storage: Storage = { hardState: start.hardState, snapshot: start.snapshot, entries: [...start.entries] };
    const node: EnvNode = {
      id: options.id,
      options,
      bootstrap: start.bootstrap,
      core: this.newCore(options, start),
      storage,
      machine: freshMachine(start.snapshot, start.bootstrap),
    };
    this.nodes.set(options.id, node);
    return node;
  }

  /** Crashes a node and starts it again from its storage; what it had not persisted is lost. */
  restart(id: NodeId): EnvNode {
    const node = this.node(id);
    const { hardState, snapshot, entries } = node.storage;
    node.core = this.newCore(node.options, { hardState, snapshot, entries: [...entries], bootstrap: node.bootstrap });
    node.machine = freshMachine(snapshot, node.bootstrap);
    // The requests it had received and not answered die with it (their senders see them time
    // out), and so do the answers on their way to its old incarnation (its runtime forgot what
    // it had asked).
    for (const [token, p] of this.pending) {
      if (p.responder !== id || !p.delivered) continue;
      this.pending.delete(token);
      this.reportUnreachable(p.requester, id, p.seq, p.request);
    }
    this.messages = this.messages.filter((m) => !(m.to === id && m.input.kind === 'response'));
    return node;
  }

  private newCore(options: CoreOptions, start: EnvStart): RaftCore {
    const core = new RaftCore({ prng: this.prng.fork() }, options, { ...start, snapshot: refOf(start.snapshot) });
    core.checkInvariants();
    return core;
  }

  /** The snapshot of `id`'s state machine as of `index` (which it has applied). */
  snapshotOf(id: NodeId, index: LogIndex): Snapshot {
    const node = this.node(id);
    const term = node.core.termAt(index);
    if (term === null) throw new Error(`node ${id} holds no entry ${index}`);
    return snapshotAt(node.machine, index, term, node.bootstrap);
  }

  /** The commands `id`'s state machine has applied. */
  appliedCommands(id: NodeId): string[] {
    return this.node(id).machine.commands.map((c) => c.text);
  }

  // -------------------------------------------------------------------------------------------
  // Ready
  // -------------------------------------------------------------------------------------------

  /** Handles the Ready of `id` as the runtime would; returns its description, or null without one. */
  processReady(id: NodeId): string[] | null {
    return this.handleReady(id)?.lines ?? null;
  }

  private handleReady(id: NodeId): { readonly ready: Ready; readonly lines: string[] } | null {
    const node = this.node(id);
    if (!node.core.hasReady()) return null;
    const ready = node.core.takeReady();
    const received = this.received.take(id, ready);
    persist(node.storage, ready, received);
    const messages = ready.messages.map((m) => this.send(id, m));
    if (received !== null) node.machine = freshMachine(received, node.bootstrap);
    for (const entry of ready.committed) this.apply(node, entry);
    node.core.advance(ready);
    node.core.checkInvariants();
    this.checkLeader(node);
    return { ready, lines: describeReady(ready, messages, received) };
  }

  /**
   * Puts a message of `from` on the network, or loses it at once across a partition; returns
   * its line. A lost request, or the lost response to one, comes back to its sender as
   * `unreachable`, as the runtime reports a request that timed out.
   */
  private send(from: NodeId, message: Outbound): string {
    if (message.kind === 'request') {
      const text = describeMessage(from, message.to, describeRequest(message.request));
      if (!this.connected(from, message.to)) {
        this.reportUnreachable(from, message.to, message.seq, message.request);
        return `${text} (dropped: partitioned)`;
      }
      // The runtime reads a snapshot chunk from what the node persisted (snapshot-chunks.ts).
      const wire = onTheWire(message.request, this.node(from).storage.snapshot);
      if (wire === null) {
        this.reportUnreachable(from, message.to, message.seq, message.request);
        return `${text} (not sent: another snapshot is persisted)`;
      }
      const token = this.nextToken;
      this.nextToken += 1;
      this.pending.set(token, {
        requester: from,
        responder: message.to,
        seq: message.seq,
        request: message.request,
        delivered: false,
      });
      this.messages.push({
        from,
        to: message.to,
        input: { kind: 'request', from, replyTo: token, request: wire },
        text,
      });
      return text;
    }
    const p = this.pending.get(message.replyTo);
    if (p === undefined) throw new Error(`${from} answered an unknown request ${message.replyTo}`);
    this.pending.delete(message.replyTo);
    const text = describeMessage(from, p.requester, describeResponse(message.response));
    if (!this.connected(from, p.requester)) {
      this.reportUnreachable(p.requester, from, p.seq, p.request);
      return `${text} (dropped: partitioned)`;
    }
    this.messages.push({
      from,
      to: p.requester,
      input: { kind: 'response', from, seq: p.seq, request: p.request, response: message.response },
      text,
    });
    return text;
  }

  /** Queues for `requester` the news that its request to `peer` got no answer. */
  private reportUnreachable(requester: NodeId, peer: NodeId, seq: number, request: CoreOutboundRequest): void {
    const text = `unreachable ${describeMessage(requester, peer, describeRequest(request))}`;
    this.messages.push({ from: peer, to: requester, input: { kind: 'unreachable', to: peer, seq, request }, text });
  }

  /** Reports the request a lost message was, or answered, as unreachable to its sender. */
  private lost(m: Envelope): void {
    const input = m.input;
    if (input.kind === 'request') {
      const p = this.pending.get(input.replyTo);
      this.pending.delete(input.replyTo);
      if (p !== undefined) this.reportUnreachable(p.requester, p.responder, p.seq, p.request);
    } else if (input.kind === 'response') {
      this.reportUnreachable(m.to, m.from, input.seq, input.request);
    }
  }

  private apply(node: EnvNode, entry: LogEntry): void {
    const described = describeEntry(entry);
    const earlier = this.appliedAt.get(entry.index);
    if (earlier !== undefined && earlier !== described)
      throw new Error(`state machine safety: ${node.id} applied ${described}, another node ${earlier}`);
    this.appliedAt.set(entry.index, described);
    applyEntry(node.machine, entry);
  }

  private checkLeader(node: EnvNode): void {
    if (node.core.getRole() !== 'leader') return;
    const term = node.core.getTerm();
    const other = this.leaderOf.get(term);
    if (other !== undefined && other !== node.id)
      throw new Error(`election safety: ${node.id} and ${other} both lead term ${term}`);
    this.leaderOf.set(term, node.id);
  }

  // -------------------------------------------------------------------------------------------
  // Network
  // -------------------------------------------------------------------------------------------

  /** Cuts the network into `groups`; a node in no group is alone. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    const map = new Map<NodeId, number>();
    groups.forEach((group, i) => {
      for (const id of group) {
        this.node(id);
        if (map.has(id)) throw new Error(`node ${id} is in two groups`);
        map.set(id, i);
      }
    });
    let next = groups.length;
    for (const id of this.nodes.keys()) {
      if (!map.has(id)) {
        map.set(id, next);
        next += 1;
      }
    }
    this.groups = map;
  }

  heal(): void {
    this.groups = null;
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return this.groups === null || this.groups.get(a) === this.groups.get(b);
  }

  /** Messages waiting, in order, as lines. */
  pendingMessages(): string[] {
    return this.messages.map((m) => m.text);
  }

  /**
   * Delivers (or, with `drop`, loses) the selected messages in the order they were sent; a
   * message sent before a partition that now cuts its way is lost. Returns a line per message, and the reason when the
   * core refused one.
   */
  deliver(selection: Selection, drop: boolean): string[] {
    const lines: string[] = [];
    const chosen: Envelope[] = [];
    const kept: Envelope[] = [];
    for (const m of this.messages) {
      const wanted =
        (selection.to.length === 0 || selection.to.includes(m.to)) &&
        (selection.from === null || selection.from === m.from);
      if (wanted && chosen.length < selection.count) chosen.push(m);
      else kept.push(m);
    }
    this.messages = kept;
    for (const m of chosen) {
      // An unreachable report comes from the node's own runtime: no partition cuts it.
      const cut = m.input.kind !== 'unreachable' && !this.connected(m.from, m.to);
      if (drop || cut) {
        lines.push(`${m.text} (dropped${drop ? '' : ': partitioned'})`);
        this.lost(m);
        continue;
      }
      lines.push(m.text);
      if (m.input.kind === 'request') {
        const p = this.pending.get(m.input.replyTo);
        if (p !== undefined) p.delivered = true;
      }
      const node = this.node(m.to);
      const result = node.core.step(m.input);
      node.core.checkInvariants();
      if (!result.ok) lines.push(`  refused: ${result.reason}`);
    }
    return lines;
  }

  /**
   * Handles Readies and delivers messages among `ids` until nothing moves; returns what
   * happened, or with `quiet` only the events and read states of the Readies.
   */
  stabilize(ids: readonly NodeId[], quiet = false): string[] {
    const lines: string[] = [];
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round += 1) {
      let moved = false;
      for (const id of ids) {
        const handled = this.handleReady(id);
        if (handled === null) continue;
        if (quiet) {
          lines.push(...handled.ready.events.map((e) => `${id} ${describeEvent(e)}`));
          lines.push(
            ...handled.ready.readStates.map(
              (r) => `${id} read ${r.token} ${r.index === null ? 'aborted' : `at index ${r.index}`}`,
            ),
          );
        } else lines.push(`> ${id} handling Ready`, ...handled.lines.map((l) => `  ${l}`));
        moved = true;
      }
      for (const id of ids) {
        if (!this.messages.some((m) => m.to === id)) continue;
        const delivered = this.deliver({ to: [id], from: null, count: Number.MAX_SAFE_INTEGER }, false);
        if (!quiet) lines.push(`> ${id} receiving messages`, ...delivered.map((l) => `  ${l}`));
        moved = true;
      }
      if (!moved) return lines;
    }
    throw new Error(`the cluster did not stabilize within ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  /** Lets `ticks` ticks pass on `ids`, stabilizing after each; returns the events, by tick. */
  elapse(ticks: number, ids: readonly NodeId[]): string[] {
    const lines: string[] = [];
    for (let tick = 1; tick <= ticks; tick += 1) {
      for (const id of ids) this.node(id).core.tick();
      lines.push(...this.stabilize([...this.nodes.keys()], true).map((l) => `tick ${tick}: ${l}`));
    }
    return lines;
  }
}
