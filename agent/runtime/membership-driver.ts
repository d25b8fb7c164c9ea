/**
 * addServer and removeServer (reference section 6): the steps of one membership change, driven
 * on the leader. A new server joins as a learner, catches up, and only then becomes a voter
 * through the joint configuration C_old,new, which the core leaves for C_new once committed.
 * One change runs at a time; every wait has a deadline.
 */
import { MembershipError, NotLeaderError, StoppedError, TimeoutError, describeError } from '../../contracts/errors.js';
import { isMember, isVoter, planChange, planVoterChange } from '../core/configuration.js';
import type { ChangePlan, ConfigurationChange } from '../core/configuration.js';
import type { RaftCore } from '../core/raft.js';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { ClusterConfiguration, NodeId } from '../../contracts/log.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import { AddressUpdates, type AddressPlan } from '../membership/address-updates.js';
import type { RaftNodeDeps } from './node-deps.js';

/** What the driver needs of the node. */
export interface MembershipHost {
  requireCore(): RaftCore;
  isRunning(): boolean;
  scheduleReady(): void;
  getAppliedConfiguration(): ClusterConfiguration;
  /** Why sends to `id` do not leave this node (an address refusal, peer-rpcs.ts), or null. */
  addressRefusalOf?(id: NodeId): string | null;
}

/** Who this node is, for the driver: its timing, its id, and where its own peer server is reached. */
export interface MembershipDriverOptions {
  readonly raft: RaftConfiguration;
  readonly nodeId: NodeId;
  /** Its own entry's address in agent.json (RaftNodeOptions.advertisedAddress); absent: none to record. */
  readonly advertisedAddress?: string | undefined;
}

interface ConfigWaiter {
  readonly until: (config: ClusterConfiguration) => boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
}

export class MembershipDriver {
  private busy = false;
  private waiters: ConfigWaiter[] = [];
  private readonly addressUpdates: AddressUpdates;
  private readonly membership: RaftNodeDeps['membership'];
  private readonly timers: Timers;
  private readonly raft: RaftConfiguration;

  constructor(
    private readonly host: MembershipHost,
    private readonly deps: Pick<RaftNodeDeps, 'membership' | 'timers' | 'logger' | 'metrics' | 'advertisedAddresses'>,
    private readonly options: MembershipDriverOptions,
  ) {
    this.membership = deps.membership;
    this.timers = deps.timers;
    this.raft = options.raft;
    this.addressUpdates = new AddressUpdates(() => this.timers.nowMs());
  }

  /**
   * Member `id`, authenticated by the transport as itself, says it listens at `address`. On a
   * leader with no change in flight, proposes the configuration that records it (see
   * agent/membership/address-updates.ts); null when this node cannot propose now (not the
   * leader, a change running or uncommitted), else what was decided.
   */
  maybeRecordAddress(id: NodeId, address: string): AddressPlan | null {
    if (!this.host.isRunning() || this.busy) return null;
    const core = this.host.requireCore();
    if (core.getRole() !== 'leader' || core.hasUncommittedConfiguration()) return null;
    if (core.termAt(core.getCommitIndex()) !== core.getTerm()) return null;
    const plan = this.addressUpdates.plan(core.getConfiguration(), id, address);
    if (plan.kind !== 'propose') return plan;
    const result = core.proposeConfiguration(plan.next);
    if (!result.ok) return null;
    this.host.scheduleReady();
    return plan;
  }

  /** How long one step of a change may take to commit. */
  private stepTimeoutMs(): number {
    return Math.max(5000, 20 * this.raft.electionTimeoutMaxMs);
  }

  async addServer(id: NodeId, address: string, learnerOnly: boolean, witness = false): Promise<boolean> {
    const validation = this.membership.validateNewNode(id, address);
    if (!validation.ok) throw new MembershipError(`cannot add ${id}: ${validation.reason}`);
    return this.exclusive(async () => {
      const config = this.host.requireCore().getConfiguration();
      if (isVoter(config, id)) return true;
      if (!this.membership.isNodeInConfiguration(id, config)) {
        await this.change({ kind: 'add-learner', id, address, witness }, (c) => c.learners.includes(id));
      }
      if (learnerOnly) return true;
      try {
        await this.waitCaughtUp(id);
      } catch (error) {
        const reason = describeError(error);
        this.deps.logger.warning('removing a learner that was not made a voter', {
          node: this.options.nodeId,
          id,
          reason,
        });
        await this.change({ kind: 'remove', id }, (c) => !this.membership.isNodeInConfiguration(id, c)).catch(
          () => undefined,
        );
        throw error;
      }
      await this.change({ kind: 'promote', id }, (c) => c.oldVoters === null && c.voters.includes(id));
      return true;
    });
  }

  async removeServer(id: NodeId): Promise<boolean> {
    return this.exclusive(async () => {
      const config = this.host.requireCore().getConfiguration();
      if (!this.membership.isNodeInConfiguration(id, config)) return true;
      await this.change(
        { kind: 'remove', id },
        (c) => c.oldVoters === null && !this.membership.isNodeInConfiguration(id, c),
      );
      return true;
    });
  }

  /**
   * Changes several voters at once (Raft §6, one joint configuration): the learners in `promote`
   * become voters, each once it has caught up, and the voters in `remove` leave; resolves true once
   * C_new is committed. A voter to be kept as a learner is removed, then added back as a learner.
   */
  async changeVoters(promote: readonly NodeId[], remove: readonly NodeId[]): Promise<boolean> {
    const what = `change of voters (promote ${promote.join(',') || 'none'}, remove ${remove.join(',') || 'none'})`;
    const plan = (current: ClusterConfiguration): ChangePlan => planVoterChange(current, promote, remove);
    return this.exclusive(async () => {
      // Refused at once when it cannot be made (not a learner, not a voter), before any wait.
      const early = plan(this.host.requireCore().getConfiguration());
      if (!early.ok) throw new MembershipError(`${what} refused: ${early.reason}`);
      for (const id of promote) await this.waitCaughtUp(id);
      const done = (c: ClusterConfiguration): boolean =>
        c.oldVoters === null && promote.every((id) => c.voters.includes(id)) && !remove.some((id) => isMember(c, id));
      await this.propose(what, plan, done);
      return true;
    });
  }

  private async exclusive(run: () => Promise<boolean>): Promise<boolean> {
    if (!this.host.isRunning()) throw new StoppedError();
    const core = this.host.requireCore();
    if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
    if (this.busy) throw new MembershipError('a membership change is already in progress on this node');
    this.busy = true;
    try {
      return await run();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Proposes one change and waits until the applied configuration satisfies `until`. Learner
   * changes are one step; voter changes go through the joint configuration that the
   * membership manager builds (reference `create_joint_configuration`).
   */
  private change(change: ConfigurationChange, until: (config: ClusterConfiguration) => boolean): Promise<void> {
    return this.propose(`${change.kind} ${change.id}`, (current) => planChange(current, change), until);
  }

  /** Proposes the configuration `plan` makes of the current one (`what` names it) and waits as {@link change}. */
  private async propose(
    what: string,
    plan: (current: ClusterConfiguration) => ChangePlan,
    until: (config: ClusterConfiguration) => boolean,
  ): Promise<void> {
    await this.waitLeaderSettled();
    const core = this.host.requireCore();
    const current = core.getConfiguration();
    const planned = plan(current);
    if (!planned.ok) throw new MembershipError(`${what} refused: ${planned.reason}`);
    const next =
      planned.next.oldVoters === null
        ? planned.next
        : this.membership.createJointConfiguration(current, { ...planned.next, oldVoters: null });
    const result = core.proposeConfiguration(next);
    if (!result.ok) {
      if (result.reason === 'not-leader') throw new NotLeaderError(result.leaderHint);
      throw new MembershipError(`${what} refused: ${result.message}`);
    }
    this.host.scheduleReady();
    await this.waitForConfig(until, what);
  }

  private waitForConfig(until: (config: ClusterConfiguration) => boolean, what: string): Promise<void> {
    if (until(this.host.getAppliedConfiguration())) return Promise.resolve();
    const timeoutMs = this.stepTimeoutMs();
    return new Promise((resolve, reject) => {
      const waiter: ConfigWaiter = {
        until,
        resolve,
        reject,
        timer: this.timers.setTimer(timeoutMs, () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new TimeoutError(`${what} not committed within ${timeoutMs} ms`));
        }),
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Waits until this leader has committed an entry of its own term and no configuration entry
   * is pending, so a change is not refused merely because leadership is fresh.
   */
  private async waitLeaderSettled(): Promise<void> {
    const deadline = this.timers.nowMs() + this.stepTimeoutMs();
    for (;;) {
      const core = this.host.requireCore();
      if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
      if (core.termAt(core.getCommitIndex()) === core.getTerm() && !core.hasUncommittedConfiguration()) return;
      if (this.timers.nowMs() >= deadline || !this.host.isRunning())
        throw new TimeoutError('the leader did not commit an entry of its term in time');
      await new Promise<void>((resolve) => this.timers.setTimer(this.raft.heartbeatIntervalMs, resolve));
    }
  }

  /** Polls the learner's progress until it answers, matches, and is within learnerCatchUpEntries of the log. */
  private async waitCaughtUp(id: NodeId): Promise<void> {
    const deadline = this.timers.nowMs() + this.raft.learnerCatchUpTimeoutMs;
    while (this.host.isRunning()) {
      const core = this.host.requireCore();
      if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
      const progress = core.getProgress().find((p) => p.id === id);
      // Caught up (thesis §4.2.1): it answers, its log matches ours, and it is close behind.
      if (
        progress !== undefined &&
        progress.recentActive &&
        progress.state === 'replicate' &&
        progress.match + this.raft.learnerCatchUpEntries >= core.getLastIndex()
      )
        return;
      if (this.timers.nowMs() >= deadline) {
        const refusal = this.host.addressRefusalOf?.(id) ?? null;
        throw new MembershipError(
          `learner ${id} did not catch up within ${this.raft.learnerCatchUpTimeoutMs} ms ` +
            `(match ${progress?.match ?? 0}, last index ${core.getLastIndex()}); it was not made a voter` +
            (refusal === null ? '' : `: the leader did not send to it (${refusal})`),
        );
      }
      await new Promise<void>((resolve) => this.timers.setTimer(this.raft.heartbeatIntervalMs, resolve));
    }
    throw new StoppedError();
  }

  /**
   * A leader's own address: a member that moved (a new address or port in its own agent.json)
   * and was elected before any leader heard it from its RPCs would otherwise stay listed at the
   * old address, where the followers forward writes and reads and where a later leader would
   * replicate to it. Its RPCs no longer reach a leader while it leads, so it records its address
   * itself, once an entry of its term committed (the rate limit and the rules of peers' claims apply).
   */
  private recordOwnAddress(): void {
    const address = this.options.advertisedAddress;
    if (address === undefined || this.host.requireCore().getRole() !== 'leader') return;
    const plan = this.maybeRecordAddress(this.options.nodeId, address);
    if (plan === null) return;
    reportAddressProposal(this.deps, this.options.nodeId, 'this leader listens at a new address', plan, address);
  }

  /**
   * The members a new leader reaches where their own authenticated RPCs said they listen, not
   * where the configuration says (peer-reach.ts: it heard them as a follower, e.g. from a moved
   * leader that has since handed leadership on): it records those addresses, one proposal at a time.
   */
  private recordReachedAddresses(): void {
    const reached = this.deps.advertisedAddresses?.overridden() ?? [];
    if (reached.length === 0 || this.host.requireCore().getRole() !== 'leader') return;
    for (const { id, address } of reached) {
      const plan = this.maybeRecordAddress(id, address);
      if (plan === null) return;
      if (plan.kind !== 'propose') continue;
      const why = `this leader reaches ${id} at a new address`;
      reportAddressProposal(this.deps, this.options.nodeId, why, plan, address);
      return;
    }
  }

  /** Called after entries are applied: records a leader's and its members' new addresses, settles the waits. */
  onApplied(): void {
    this.recordOwnAddress();
    this.recordReachedAddresses();
    if (this.waiters.length === 0) return;
    const config = this.host.getAppliedConfiguration();
    const done = this.waiters.filter((w) => w.until(config));
    this.waiters = this.waiters.filter((w) => !w.until(config));
    for (const waiter of done) {
      waiter.timer.cancel();
      waiter.resolve();
    }
  }

  /**
   * The node stopped: every wait ends. Each waits for a configuration that was already proposed,
   * which another leader may still commit, so the outcome is unknown: a TimeoutError, never a
   * StoppedError (which says nothing was done).
   */
  rejectAll(): void {
    for (const waiter of this.waiters) {
      waiter.timer.cancel();
      waiter.reject(
        new TimeoutError('the node stopped before the membership change was committed; it may still be committed'),
      );
    }
    this.waiters = [];
  }
}

/**
 * Counts and logs `plan` when it proposes a member's new address `address`; `why` says how
 * node `node` learned it (the message names the member).
 */
export function reportAddressProposal(
  deps: Pick<RaftNodeDeps, 'logger' | 'metrics'>,
  node: NodeId,
  why: string,
  plan: AddressPlan,
  address: string,
): void {
  if (plan.kind !== 'propose') return;
  deps.metrics.increment('membership_address_updates_total', 1);
  deps.logger.info(`${why}: proposing it in the configuration`, { node, from: plan.previous, to: address });
}
