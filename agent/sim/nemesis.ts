/**
 * The nemesis: injects faults on a seeded schedule during a simulation — partitions of every
 * shape (majority/minority splits, an isolated leader, one-way cuts, flapping), crashes and
 * restarts (never more than a minority down at once, so the cluster must stay available),
 * clogged links, forged messages, and membership changes. Each action is drawn from the
 * simulator's Prng.
 */
import type { Prng } from '../../contracts/prng.js';
import type { RaftCore } from '../core/raft.js';
import type { NodeId } from '../../contracts/log.js';
import type { ResponseMessage } from '../../contracts/messages.js';
import type { SimCluster } from './cluster.js';
import type { FaultKind } from './fault-kinds.js';
import type { VirtualTimers } from './virtual-time.js';
import { MembershipChaos } from './membership-chaos.js';

/** Options of the nemesis beyond the fault kinds. */
export interface NemesisOptions {
  readonly membership: boolean;
}

/** Probability that a node crashes right after a granted vote or an acknowledgement ('ackcrash'). */
const CRASH_AFTER_ANSWER_RATE = 0.02;
/** Probability that a node crashes in the middle of a write it just issued ('unsynced'). */
const CRASH_MID_WRITE_RATE = 0.04;

export class Nemesis {
  private stopped = false;
  private partitioned = false;
  /** Told of every fault injected, in words (for the demo's narration). */
  onFault: (description: string) => void = () => undefined;
  /** Called to forge a request for `target`; set when Byzantine faults are on. */
  onForge: ((target: NodeId, core: RaftCore, sender: NodeId, others: readonly NodeId[]) => void) | null = null;
  private readonly actions: (() => void)[] = [];
  private readonly membership: MembershipChaos | null;

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    private readonly prng: Prng,
    faults: ReadonlySet<FaultKind>,
    private readonly durationMs: number,
    options: NemesisOptions,
  ) {
    if (faults.has('partition')) this.actions.push(() => this.partitionAction());
    if (faults.has('crash')) this.actions.push(() => this.crashAction());
    if (faults.has('unsynced')) cluster.onWrite = (id) => this.crashMidWrite(id);
    if (faults.has('clog')) this.actions.push(() => this.clogAction());
    if (faults.has('byzantine')) this.actions.push(() => this.forgeAction());
    if (faults.has('ackcrash')) cluster.onAnswer = (id, _request, response) => this.crashAfterAnswer(id, response);
    this.membership = options.membership ? new MembershipChaos(cluster, timers, prng) : null;
    if (this.membership !== null) {
      const chaos = this.membership;
      this.actions.push(() => chaos.act());
    }
  }

  start(): void {
    this.scheduleNext();
  }

  stop(): void {
    this.stopped = true;
    this.membership?.stop();
  }

  private scheduleNext(): void {
    if (this.actions.length === 0) return;
    this.timers.setTimer(this.prng.intBetween(100, 700), () => {
      if (this.stopped || this.timers.nowMs() >= this.durationMs) return;
      const action = this.actions[this.prng.intBetween(0, this.actions.length)];
      action?.();
      this.scheduleNext();
    });
  }

  private ids(): NodeId[] {
    return [...this.cluster.nodes.keys()];
  }

  private partitionAction(): void {
    const network = this.cluster.network;
    if (this.partitioned && this.prng.chance(0.5)) {
      network.heal();
      this.partitioned = false;
      this.onFault('network healed');
      return;
    }
    network.heal();
    const ids = this.shuffled(this.ids());
    const leader = this.cluster.leaders()[0]?.getNodeId() ?? null;
    const shape = this.prng.intBetween(0, 4);
    if (shape === 0) {
      // Majority / minority split.
      const cut = this.prng.intBetween(1, Math.max(2, Math.ceil(ids.length / 2)));
      network.partition([ids.slice(0, cut), ids.slice(cut)]);
      this.onFault(`partition ${ids.slice(0, cut).join(',')} | ${ids.slice(cut).join(',')}`);
    } else if (shape === 1 && leader !== null) {
      // The leader alone in a minority.
      network.partition([[leader], ids.filter((id) => id !== leader)]);
      this.onFault(`leader ${leader} isolated`);
    } else if (shape === 2) {
      // One-way: a node hears everyone, no one hears it.
      const node = ids[0];
      if (node !== undefined) for (const other of ids) if (other !== node) network.cutLink(node, other);
      this.onFault(`one-way cut: nobody hears ${node ?? '?'}`);
    } else {
      // A bridge: two sides that only one node connects.
      const bridge = ids[0];
      const half = Math.floor((ids.length - 1) / 2) + 1;
      const left = ids.slice(1, half);
      const right = ids.slice(half);
      if (bridge !== undefined) network.partition([left, right]);
      this.onFault(`bridge ${bridge ?? '?'} between ${left.join(',')} and ${right.join(',')}`);
    }
    this.partitioned = true;
    // Partitions heal on their own after a while too (flapping).
    this.timers.setTimer(this.prng.intBetween(300, 3000), () => {
      if (!this.stopped && this.partitioned && this.prng.chance(0.7)) {
        network.heal();
        this.partitioned = false;
      }
    });
  }

  private crashAction(): void {
    const ids = this.ids();
    const down = ids.filter((id) => this.cluster.node(id) === null);
    const maxDown = Math.floor((ids.length - 1) / 2);
    if (down.length > 0 && (down.length >= maxDown || this.prng.chance(0.4))) {
      const id = down[this.prng.intBetween(0, down.length)];
      if (id !== undefined) {
        this.cluster.restart(id);
        this.onFault(`${id} restarted`);
      }
      return;
    }
    // With fewer than three nodes (a membership change can shrink the cluster to two for a
    // while) no minority may go down: crash nothing.
    if (down.length >= maxDown) return;
    const leader = this.cluster.leaders()[0]?.getNodeId();
    const up = ids.filter((id) => this.cluster.node(id) !== null);
    const victim = leader !== undefined && this.prng.chance(0.4) ? leader : up[this.prng.intBetween(0, up.length)];
    if (victim === undefined) return;
    void this.cluster.crash(victim);
    this.onFault(`${victim} crashed${victim === leader ? ' (the leader)' : ''}`);
    this.timers.setTimer(this.prng.intBetween(200, 3000), () => {
      if (!this.stopped && this.cluster.nodes.has(victim) && this.cluster.node(victim) === null)
        this.cluster.restart(victim);
    });
  }

  /**
   * Crashes a node in the middle of a write, now and then (its sync not done yet: the crash keeps a
   * random part of what it had not synced), and restarts it soon after.
   */
  private crashMidWrite(id: NodeId): void {
    if (this.stopped || this.timers.nowMs() >= this.durationMs || !this.prng.chance(CRASH_MID_WRITE_RATE)) return;
    // Within the write's sync (at least 2 ms under 'unsynced'), not within the call that issued it.
    this.timers.setTimer(this.prng.intBetween(0, 2), () => {
      if (!this.stopped) this.crashBriefly(id, `${id} crashed in the middle of a write`);
    });
  }

  /** Crashes `id` now unless a minority is down already, and restarts it 10 to 400 ms later. */
  private crashBriefly(id: NodeId, description: string): void {
    const ids = this.ids();
    const down = ids.filter((other) => this.cluster.node(other) === null).length;
    if (down >= Math.floor((ids.length - 1) / 2)) return;
    void this.cluster.crash(id);
    this.onFault(description);
    this.timers.setTimer(this.prng.intBetween(10, 400), () => {
      if (!this.stopped && this.cluster.nodes.has(id) && this.cluster.node(id) === null) this.cluster.restart(id);
    });
  }

  /**
   * Crashes a node right after it granted a vote or acknowledged entries, now and then, and restarts
   * it soon after, often still in the term it answered in: what it answered must have been on its
   * disk (Property 9), or it comes back having forgotten a vote or an entry a leader counted.
   */
  private crashAfterAnswer(id: NodeId, response: ResponseMessage): void {
    if (this.stopped || this.timers.nowMs() >= this.durationMs) return;
    const answered =
      (response.type === 'RequestVoteResponse' && response.voteGranted) ||
      (response.type === 'AppendEntriesResponse' && response.success);
    if (!answered || !this.prng.chance(CRASH_AFTER_ANSWER_RATE)) return;
    this.crashBriefly(id, `${id} crashed right after its ${response.type}`);
  }

  private clogAction(): void {
    const ids = this.ids();
    const from = ids[this.prng.intBetween(0, ids.length)];
    const to = ids[this.prng.intBetween(0, ids.length)];
    if (from === undefined || to === undefined || from === to) return;
    this.cluster.network.clog(from, to, this.prng.intBetween(50, 400));
    this.onFault(`link ${from}->${to} clogged`);
    this.timers.setTimer(this.prng.intBetween(200, 2000), () => this.cluster.network.clog(from, to, 0));
  }

  private forgeAction(): void {
    const forge = this.onForge;
    if (forge === null) return;
    const ids = this.ids();
    for (let i = 0; i < 3; i += 1) {
      const target = ids[this.prng.intBetween(0, ids.length)];
      const sender = ids[this.prng.intBetween(0, ids.length)];
      if (target === undefined || sender === undefined || target === sender) continue;
      const node = this.cluster.node(target);
      if (node === null || !node.isRunning()) continue;
      forge(target, node.requireCore(), sender, ids);
    }
  }

  private shuffled(ids: NodeId[]): NodeId[] {
    const result = ids.slice();
    for (let i = result.length - 1; i > 0; i -= 1) {
      const j = this.prng.intBetween(0, i + 1);
      const a = result[i];
      const b = result[j];
      if (a !== undefined && b !== undefined) {
        result[i] = b;
        result[j] = a;
      }
    }
    return result;
  }
}
