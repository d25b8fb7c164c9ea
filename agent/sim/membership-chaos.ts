/**
 * Random membership changes during a simulation (`coraft sim --membership`): add a new node,
 * remove a voter (the leader included), replace one (remove it, then add a node with a wiped
 * disk under a new id), and transfer leadership. One change at a time, through the leader's
 * RaftNode API, exactly as an operator would; a refused or timed-out change is normal under
 * faults and is simply retried later.
 */
import type { Prng } from '../../contracts/prng.js';
import type { NodeId } from '../../contracts/log.js';
import { isWitness } from '../core/configuration.js';
import type { SimCluster } from './cluster.js';
import type { VirtualTimers } from './virtual-time.js';

/** Fewest voters the chaos keeps, so that a majority can survive the other faults. */
const VOTERS_MIN = 3;
/** Most nodes the chaos adds. */
const VOTERS_MAX = 7;

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
    if (this.busy || this.stopped) return;
    const leader = this.cluster.leaders()[0];
    if (leader === undefined) return;
    const config = leader.getStatus().configuration;
    if (config.oldVoters !== null) return;
    const roll = this.prng.nextFloat();
    let task: Promise<string>;
    if (roll < 0.3 && config.voters.length + config.learners.length < VOTERS_MAX) {
      task = this.add(leader.getNodeId());
    } else if (roll < 0.55 && config.voters.length > VOTERS_MIN) {
      const victim = config.voters[this.prng.intBetween(0, config.voters.length)];
      task = victim === undefined ? Promise.resolve('none') : this.remove(victim);
    } else if (roll < 0.75 && config.voters.length >= VOTERS_MIN) {
      const victim = config.voters[this.prng.intBetween(0, config.voters.length)];
      task =
        victim === undefined
          ? Promise.resolve('none')
          : this.remove(victim)
              .then(() => this.add(leader.getNodeId()))
              .then(() => 'replace');
    } else {
      // Leadership never goes to a witness (the core refuses it).
      const target = config.voters.filter((id) => id !== leader.getNodeId() && !isWitness(config, id))[0] ?? null;
      task = leader.transferLeadership(target, 1000).then(() => 'transfer');
    }
    this.busy = true;
    task
      .then(
        (kind) => this.completed.set(kind, (this.completed.get(kind) ?? 0) + 1),
        () => undefined,
      )
      .finally(() => {
        this.busy = false;
      });
  }

  /** Starts a new node (fresh disk, new id) and adds it through the current leader. */
  private async add(_leaderId: NodeId): Promise<string> {
    const id = `n${this.nextId}`;
    this.nextId += 1;
    const leader = this.cluster.leaders()[0];
    if (leader === undefined) return 'none';
    // In a cluster set up with witnesses, some added nodes are witnesses too (the draw is made only
    // there, so runs without witnesses keep their schedules).
    const witness = this.cluster.hasWitnesses() && this.prng.nextFloat() < 0.3;
    await this.cluster.start(id, leader.getStatus().configuration, witness);
    try {
      await leader.addServer(id, '', { witness });
    } catch (error) {
      // The new node may still have been added; if it was not, it is stopped and forgotten.
      const current = this.cluster.leaders()[0]?.getStatus().configuration;
      if (current !== undefined && !current.voters.includes(id) && !current.learners.includes(id)) {
        await this.cluster.crash(id);
        this.cluster.wipe(id);
      }
      throw error;
    }
    return 'add';
  }

  /** Removes a voter (possibly the leader); once the removal is in force, stops and forgets it. */
  private async remove(id: NodeId): Promise<string> {
    const leader = this.cluster.leaders()[0];
    if (leader === undefined) return 'none';
    await leader.removeServer(id);
    // Let the removed node's last messages drain, then retire it.
    await new Promise<void>((resolve) => this.timers.setTimer(200, resolve));
    await this.cluster.crash(id);
    this.cluster.wipe(id);
    return 'remove';
  }
}
