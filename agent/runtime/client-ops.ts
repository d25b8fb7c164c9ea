/**
 * Client operations on the node: writes (propose, then wait until the entry is applied here)
 * and linearizable reads (ReadIndex, Raft thesis §6.4: the leader confirms it still leads, then
 * the read waits until the state machine has applied the read index), each waiting in the
 * bounded PendingRequests with a deadline; stale local reads; and the glue of forwarding
 * (forwarding.ts): a request made on a follower runs on the leader, and a request a follower
 * forwarded here is run and answered with an error code the follower rebuilds.
 */
import type { RaftCore } from '../core/raft.js';
import {
  NotLeaderError,
  PersistenceError,
  ProposalError,
  RaftError,
  StoppedError,
  describeError,
} from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import type { ClientForwardRequest, ClientForwardResponse, ForwardKind } from '../../contracts/messages.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import { errorFromCode, ForwardingClient } from './forwarding.js';
import type { ForwardingHost, LeaderChange } from './forwarding.js';
import type { PendingRequests } from './pending.js';
import type { RaftNodeDeps } from './node-deps.js';

/** What client operations need of the node. */
export interface ClientHost extends Pick<
  ForwardingHost,
  'getNodeId' | 'isLeader' | 'getLeaderId' | 'isRunning' | 'runAdmin'
> {
  requireCore(): ClientCore;
  scheduleReady(): void;
}

/** What client operations read and call of the core. */
export type ClientCore = Pick<RaftCore, 'getRole' | 'getLeaderId' | 'propose' | 'readIndex'>;

/** The edges client operations reach. */
export type ClientDeps = Pick<
  RaftNodeDeps,
  'timers' | 'client' | 'stateMachine' | 'metrics' | 'writeGate' | 'latencyProbe'
>;

/** The limits client operations enforce (from the RaftConfiguration). */
export type ClientLimits = Pick<RaftConfiguration, 'commandBytesMax' | 'pendingRequestsMax'>;

/** Longest a request forwarded here may wait, whatever the follower asked for, ms. */
const FORWARDED_TIMEOUT_MS_MAX = 60_000;

/** The node's client operations; see the module comment. */
export class ClientOperations {
  private readonly forwarding: ForwardingClient;
  /** Requests waiting for a leader to be known. Invariant: length <= pendingRequestsMax. */
  private leaderWaiters: (() => void)[] = [];
  /** Forwards waiting for the leader they went to to change. Invariant: size <= pendingRequestsMax. */
  private readonly changeWaiters = new Set<{ readonly from: NodeId; readonly changed: () => void }>();
  private lastLeader: NodeId | null = null;

  constructor(
    private readonly host: ClientHost,
    private readonly deps: ClientDeps,
    private readonly pending: PendingRequests,
    private readonly limits: ClientLimits,
  ) {
    this.forwarding = new ForwardingClient(
      {
        getNodeId: () => host.getNodeId(),
        isLeader: () => host.isLeader(),
        getLeaderId: () => host.getLeaderId(),
        isRunning: () => host.isRunning(),
        runAdmin: (payload, timeoutMs) => host.runAdmin(payload, timeoutMs),
        submitCommand: (command, timeoutMs) => this.submitCommand(command, timeoutMs),
        readState: (query, timeoutMs) => this.readState(query, timeoutMs),
        waitForLeader: (timeoutMs) => this.waitForLeader(timeoutMs),
        leaderChange: (from) => this.leaderChange(from),
      },
      deps.client,
      deps.timers,
    );
  }

  /** Proposes `command` on this node, which must lead, and resolves with its result once applied here. */
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    // Not async: the applied result's own promise is the answer (one promise less per write); a refusal rejects it.
    try {
      return this.propose(command, timeoutMs);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private propose(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const core = this.runningCore();
    if (command.byteLength > this.limits.commandBytesMax) {
      throw new ProposalError(
        'RAFT_PROPOSAL_DROPPED',
        `command of ${command.byteLength} bytes exceeds commandBytesMax ${this.limits.commandBytesMax}`,
      );
    }
    this.pending.checkRoom();
    const result = core.propose(command);
    if (!result.ok) throw proposeError(result);
    this.deps.latencyProbe?.mark('propose', result.index);
    this.deps.metrics.increment('raft_proposals_total');
    const applied = this.pending.waitForApply(result.index, result.term, timeoutMs);
    this.host.scheduleReady();
    return applied;
  }

  /** Answers `query` on this node, which must lead, once its read index is applied (ReadIndex). */
  async readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const core = this.runningCore();
    if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
    this.pending.checkRoom();
    const { token, index } = this.pending.addRead(timeoutMs);
    const registered = core.readIndex(token);
    if (!registered.ok) {
      const error =
        registered.reason === 'not-leader'
          ? new NotLeaderError(core.getLeaderId())
          : new ProposalError('RAFT_BUSY', registered.message);
      this.pending.dropRead(token, error);
    }
    this.host.scheduleReady();
    await index;
    return this.deps.stateMachine.query(query);
  }

  /** Answers a query from this node's state machine without any check (a stale read). */
  readLocal(query: Uint8Array): Uint8Array {
    this.runningCore();
    return this.deps.stateMachine.query(query);
  }

  /**
   * Runs a request of `kind` on the leader, forwarding it there from a follower. `retryUnknown`:
   * a write that carries an identity the state machine deduplicates may be sent again after an
   * attempt whose outcome is unknown (see forwarding.ts). Default false. `what`: the request as
   * error messages name it (ForwardingClient.run).
   */
  runAnywhere(
    kind: ForwardKind,
    payload: Uint8Array,
    timeoutMs: number,
    retryUnknown = false,
    what?: string,
  ): Promise<Uint8Array> {
    const refusal = this.writeRefusal(kind);
    if (refusal !== null) return Promise.reject(refusal);
    return this.forwarding.run(kind, payload, timeoutMs, retryUnknown, what);
  }

  /** STORAGE_FULL for a client write while the write gate (the full-disk guard) refuses writes; else null. */
  private writeRefusal(kind: ForwardKind): PersistenceError | null {
    if (kind !== 'write') return null;
    const reason = this.deps.writeGate?.writeRefusal() ?? null;
    if (reason === null) return null;
    this.deps.metrics.increment('client_writes_refused_total', 1, { reason: 'disk_full' });
    return new PersistenceError('STORAGE_FULL', reason);
  }

  /** Runs a request a follower forwarded here; it runs here or fails, and is never forwarded again. */
  async answerForward(request: ClientForwardRequest): Promise<ClientForwardResponse> {
    const timeoutMs = Math.min(request.timeoutMs, FORWARDED_TIMEOUT_MS_MAX);
    try {
      // This node's disk must hold the write too: a forwarded write meets the same gate.
      const refusal = this.writeRefusal(request.kind);
      if (refusal !== null) throw refusal;
      const result = await this.forwarding.runLocally(request.kind, request.payload, timeoutMs);
      return { type: 'ClientForwardResponse', code: '', message: '', leaderHint: this.host.getLeaderId(), result };
    } catch (error) {
      const code = error instanceof RaftError ? error.code : 'RAFT_INVARIANT';
      const hint = error instanceof NotLeaderError ? error.leaderHint : this.host.getLeaderId();
      return {
        type: 'ClientForwardResponse',
        code,
        message: describeError(error),
        leaderHint: hint,
        result: new Uint8Array(0),
      };
    }
  }

  /** Resolves once a leader is known (or after `timeoutMs`, or at once when too many wait). */
  waitForLeader(timeoutMs: number): Promise<void> {
    if (this.host.getLeaderId() !== null || !this.host.isRunning()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.deps.timers.setTimer(timeoutMs, () => {
        this.leaderWaiters = this.leaderWaiters.filter((w) => w !== done);
        resolve();
      });
      const done = (): void => {
        timer.cancel();
        resolve();
      };
      if (this.leaderWaiters.length >= this.limits.pendingRequestsMax) {
        done();
        return;
      }
      this.leaderWaiters.push(done);
    });
  }

  /**
   * Resolves once the known leader is no longer `from`, or the node stops. When pendingRequestsMax
   * waits are already registered it never resolves (the caller's own timeout still bounds it).
   */
  leaderChange(from: NodeId): LeaderChange {
    if (this.host.getLeaderId() !== from || !this.host.isRunning()) return { changed: Promise.resolve(), cancel: noop };
    if (this.changeWaiters.size >= this.limits.pendingRequestsMax) return { changed: NEVER, cancel: noop };
    let waiter: { readonly from: NodeId; readonly changed: () => void } | undefined;
    const changed = new Promise<void>((resolve) => {
      waiter = { from, changed: resolve };
      this.changeWaiters.add(waiter);
    });
    return {
      changed,
      cancel: () => {
        if (waiter !== undefined) this.changeWaiters.delete(waiter);
      },
    };
  }

  /** The core reported its leader (soft state): a newly known leader ends the waits for one. */
  leaderReported(leaderId: NodeId | null): void {
    if (leaderId === this.lastLeader) return;
    this.lastLeader = leaderId;
    for (const waiter of this.changeWaiters) {
      if (waiter.from === leaderId) continue;
      this.changeWaiters.delete(waiter);
      waiter.changed();
    }
    if (leaderId !== null) this.endLeaderWaits();
  }

  /** Ends every wait for a leader (a leader is known, or the node stopped), and every wait for a change of leader. */
  endLeaderWaits(): void {
    for (const waiter of this.leaderWaiters) waiter();
    this.leaderWaiters = [];
    if (this.host.isRunning()) return;
    for (const waiter of this.changeWaiters) waiter.changed();
    this.changeWaiters.clear();
  }

  private runningCore(): ClientCore {
    if (!this.host.isRunning()) throw new StoppedError();
    return this.host.requireCore();
  }
}

/** A promise that never settles: a wait that only its caller's timeout ends. */
const NEVER = new Promise<void>(() => undefined);
const noop = (): void => undefined;

/** The error a refused proposal is reported as. */
function proposeError(result: Exclude<ReturnType<RaftCore['propose']>, { ok: true }>): RaftError {
  switch (result.reason) {
    case 'not-leader':
      return new NotLeaderError(result.leaderHint);
    case 'transferring':
      return new ProposalError('RAFT_TRANSFER', result.message);
    case 'uncommitted-limit':
      return new ProposalError('RAFT_BUSY', result.message);
    case 'change-in-progress':
    case 'invalid-change':
      return errorFromCode('RAFT_MEMBERSHIP', result.message, null);
  }
}
