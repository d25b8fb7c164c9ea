/**
 * Random membership changes during a simulation (`coraft sim --membership`), one at a time through
 * the leader's RaftNode API, as an operator would: add a node (a voter, or a learner only); add two
 * at once, remove one or two at once (the leader among them, now and then), replace one (a new
 * learner promoted while the old voter leaves, one joint configuration), demote a voter to a
 * learner (it leaves, then comes back as a learner with its disk), promote a learner; and transfer
 * leadership to a random member: a lagging or crashed voter, a learner, a witness or the leader
 * itself, which must be refused (RAFT_TRANSFER) and never make a non-voter lead. A refused or
 * timed-out change is normal under faults and is simply retried later; a node a change failed to
 * add is stopped and forgotten. The properties are checked by membership-check.ts and safety.ts.
 */
import type { Prng } from '../../contracts/prng.js';
import type { ClusterConfiguration, NodeId } from '../../contracts/log.js';
import { RaftError, describeError } from '../../contracts/errors.js';
import { isMember, isWitness } from '../core/configuration.js';
import type { RaftNodeImpl } from '../runtime/node.js';
import type { SimCluster } from './cluster.js';
import type { VirtualTimers } from './virtual-time.js';

/** Fewest voters the chaos keeps, so that a majority can survive the other faults. */
const VOTERS_MIN = 3;
/** Most members (voters and learners) the chaos adds up to. */
const VOTERS_MAX = 7;

/** The kinds of change, with their weights. */
const KINDS = [
  ['add', 2],
  ['add-learner', 1],
  ['add-two', 2],
  ['remove', 2],
  ['remove-two', 2],
  ['replace', 2],
  ['demote', 1],
  ['promote', 2],
  ['transfer', 4],
] as const;

type Kind = (typeof KINDS)[number][0];

export class MembershipChaos {
  private busy = false;
  private stopped = false;
  private nextId: number;
  /** Changes that completed, by kind, for the summary. */
  readonly completed = new Map<string, number>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    private readonly prng: Prng,
  ) {
    this.nextId = cluster.nodes.size + 1;
  }

  stop(): void {
    this.stopped = true;
  }

  act(): void {
    if (this.stopped) return;
    const leader = this.cluster.leaders()[0];
    if (leader === undefined) return;
    const config = leader.getStatus().configuration;
    if (this.busy || config.oldVoters !== null) return;
    const kind = this.draw();
    const task = this.start(kind, leader, config);
    if (task === null) return;
    this.busy = true;
    // Now and then leadership is handed on while the change is in its joint configuration: the
    // next leader is elected under C_old,new, by majorities of both halves.
    if (kind !== 'transfer' && this.prng.chance(0.4)) void this.transferWhenJoint();
    task
      .then(
        (kind) => this.completed.set(kind, (this.completed.get(kind) ?? 0) + 1),
        () => undefined,
      )
      .finally(() => {
        this.busy = false;
      });
  }

  private draw(): Kind {
    const total = KINDS.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.prng.intBetween(0, total);
    for (const [kind, weight] of KINDS) {
      if (roll < weight) return kind;
      roll -= weight;
    }
    return 'transfer';
  }

  /** Starts a change of `kind`, or returns null when the configuration does not allow it now. */
  private start(kind: Kind, leader: RaftNodeImpl, config: ClusterConfiguration): Promise<string> | null {
    const size = config.voters.length + config.learners.length;
    const voters = config.voters.length;
    const fullLearners = config.learners.filter((id) => !isWitness(config, id));
    // Full voters only: a change of several voters never moves a witness (a quorum must hold a full member).
    const full = config.voters.filter((id) => !isWitness(config, id));
    switch (kind) {
      case 'add':
        return size < VOTERS_MAX ? this.add(false) : null;
      case 'add-learner':
        return size < VOTERS_MAX ? this.add(true) : null;
      case 'add-two':
        return size + 2 <= VOTERS_MAX ? this.addTwo() : null;
      case 'remove':
        return voters > VOTERS_MIN ? this.retire([this.pick(config.voters)], 'remove') : null;
      case 'remove-two':
        return voters - 2 >= VOTERS_MIN && full.length >= 2 ? this.retire(this.pickTwo(full), 'remove-two') : null;
      case 'replace':
        return voters >= VOTERS_MIN && full.length > 0 && size < VOTERS_MAX ? this.replace(this.pick(full)) : null;
      case 'demote':
        return voters > VOTERS_MIN && full.length > 0 ? this.demote(leader, this.pick(full)) : null;
      case 'promote':
        return fullLearners.length > 0 ? this.promote(this.pick(fullLearners)) : null;
      case 'transfer':
        return this.transfer(leader, config);
    }
  }

  private pick(ids: readonly NodeId[]): NodeId {
    const id = ids[this.prng.intBetween(0, ids.length)];
    if (id === undefined) throw new Error('the chaos picks among no nodes');
    return id;
  }

  private pickTwo(ids: readonly NodeId[]): NodeId[] {
    const first = this.pick(ids);
    return [first, this.pick(ids.filter((id) => id !== first))];
  }

  private leader(): RaftNodeImpl {
    const leader = this.cluster.leaders()[0];
    if (leader === undefined) throw new Error('no leader to change the membership through');
    return leader;
  }

  /** Starts a new node (fresh disk, new id) and adds it: a voter once caught up, or a learner. */
  private async add(learner: boolean): Promise<string> {
    await this.addLearner(learner);
    return learner ? 'add-learner' : 'add';
  }

  /**
   * Starts a new node and adds it as a learner (as a voter too unless `learnerOnly`); when the
   * change fails and left it out, it is stopped and forgotten. Returns its id.
   */
  private async addLearner(learnerOnly: boolean, id = this.newId(), witnessAllowed = true): Promise<NodeId> {
    const leader = this.leader();
    // In a cluster set up with witnesses, some added nodes are witnesses too (the draw is made only
    // there, so runs without witnesses keep their schedules).
    const witness = witnessAllowed && this.cluster.hasWitnesses() && this.prng.nextFloat() < 0.3;
    if (!this.cluster.nodes.has(id)) await this.startNode(id, leader.getStatus().configuration, witness);
    try {
      await leader.addServer(id, '', { witness, learner: learnerOnly });
    } catch (error) {
      await this.forgetUnlessMember(id);
      throw error;
    }
    return id;
  }

  /** Starts `id`; a start that fails is a violation of the run (and fails the change). */
  private async startNode(id: NodeId, config: ClusterConfiguration, witness = false): Promise<void> {
    try {
      await this.cluster.start(id, config, witness);
    } catch (error) {
      this.cluster.checker.violations.push(`${id} failed to start: ${describeError(error)}`);
      throw error;
    }
  }

  private newId(): NodeId {
    const id = `n${this.nextId}`;
    this.nextId += 1;
    return id;
  }

  /**
   * Stops and forgets `id` once sure it is no member: a leader leads and no other running node's
   * configuration names it. With no leader (a change cut short by a crash of the leader) nothing is
   * known: the node stays, as its disk may be part of a configuration, which a wipe would destroy.
   */
  private async forgetUnlessMember(id: NodeId): Promise<void> {
    if (this.cluster.leaders().length === 0) return;
    const others = this.cluster.running().filter((node) => node.getNodeId() !== id && node.isRunning());
    if (others.some((node) => isMember(node.getConfiguration(), id))) return;
    await this.cluster.crash(id);
    this.cluster.wipe(id);
  }

  /** Adds two new nodes as learners, then makes both voters in one joint configuration. */
  private async addTwo(): Promise<string> {
    const ids = [await this.addLearner(true, this.newId(), false), await this.addLearner(true, this.newId(), false)];
    try {
      await this.leader().changeVoters(ids, []);
    } catch (error) {
      for (const id of ids) await this.removeLearner(id);
      throw error;
    }
    return 'add-two';
  }

  /** Removes a learner that a failed change left behind, then forgets it. */
  private async removeLearner(id: NodeId): Promise<void> {
    await this.cluster
      .leaders()[0]
      ?.removeServer(id)
      .catch(() => undefined);
    await this.forgetUnlessMember(id);
  }

  /** Removes the voters `ids` in one joint configuration (the leader too, maybe), then retires them. */
  private async retire(ids: readonly NodeId[], kind: string): Promise<string> {
    const leader = this.leader();
    await (ids.length === 1 && ids[0] !== undefined ? leader.removeServer(ids[0]) : leader.changeVoters([], ids));
    // Let the removed nodes' last messages drain, then retire them.
    await this.sleep(200);
    for (const id of ids) {
      await this.cluster.crash(id);
      this.cluster.wipe(id);
    }
    return kind;
  }

  /** A new learner takes `old`'s place: promoted while `old` leaves, in one joint configuration. */
  private async replace(old: NodeId): Promise<string> {
    const id = await this.addLearner(true, this.newId(), false);
    try {
      await this.leader().changeVoters([id], [old]);
    } catch (error) {
      await this.removeLearner(id);
      throw error;
    }
    await this.sleep(200);
    await this.cluster.crash(old);
    this.cluster.wipe(old);
    return 'replace';
  }

  /** Demotes voter `id`: it leaves the voters, then comes back as a learner, its disk kept. */
  private async demote(leader: RaftNodeImpl, id: NodeId): Promise<string> {
    await leader.changeVoters([], [id]);
    // Possibly removed itself: the new leader adds it back.
    await this.until(() => this.cluster.leaders().length === 1, 5000);
    if (this.cluster.node(id) === null) await this.startNode(id, this.leader().getStatus().configuration);
    await this.addLearner(true, id, false);
    return 'demote';
  }

  private async promote(id: NodeId): Promise<string> {
    await this.leader().changeVoters([id], []);
    return 'promote';
  }

  /**
   * Hands leadership to a random member or the leader itself. A target that is not a voter of the
   * configuration (a learner, a witness, the leader) must be refused, and must never lead through it.
   */
  private transfer(leader: RaftNodeImpl, config: ClusterConfiguration): Promise<string> {
    const candidates = [...new Set([...config.voters, ...(config.oldVoters ?? []), ...config.learners])];
    const target = this.pick(candidates);
    const leaderId = leader.getNodeId();
    const refusable = !config.voters.includes(target) || isWitness(config, target) || target === leaderId;
    return leader.transferLeadership(target, 1000).then(
      (to) => {
        if (refusable)
          this.cluster.checker.violations.push(
            `Leadership transfer: ${leaderId} handed leadership to ${target}, which is not a voter it may hand it ` +
              `to (${to} leads)`,
          );
        return 'transfer';
      },
      (error: unknown) => {
        const code = error instanceof RaftError ? error.code : describeError(error);
        if (refusable && code !== 'RAFT_TRANSFER' && code !== 'RAFT_NOT_LEADER')
          this.cluster.checker.violations.push(
            `Leadership transfer: a transfer from ${leaderId} to ${target} failed with ${code}, ` +
              'not refused at once (RAFT_TRANSFER)',
          );
        throw error;
      },
    );
  }

  /** Waits (a few seconds at most) for a leader in a joint configuration, then transfers leadership from it. */
  private async transferWhenJoint(): Promise<void> {
    const deadline = this.timers.nowMs() + 3000;
    while (this.busy && !this.stopped && this.timers.nowMs() < deadline) {
      const leader = this.cluster.leaders()[0];
      const config = leader?.getStatus().configuration;
      if (leader !== undefined && config !== undefined && config.oldVoters !== null) {
        await this.transfer(leader, config).catch(() => undefined);
        return;
      }
      await this.sleep(1);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.timers.setTimer(ms, resolve));
  }

  private async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = this.timers.nowMs() + timeoutMs;
    while (!done() && this.timers.nowMs() < deadline) await this.sleep(50);
  }
}
