/**
 * Client requests that reach a follower go to the leader: the follower forwards them over the
 * peer transport as ClientForward RPCs and relays the answer, trying the next leader it learns
 * of when one answers "not leader" (up to FORWARD_ATTEMPTS_MAX leaders).
 *
 * A retry re-sends the same bytes, and a leader that answers "not leader" may still have
 * proposed the write earlier (a duplicated or retransmitted forward reaching it after it lost
 * leadership or restarted), which the next leader can commit. So a write without an identity
 * can run twice on this path; the local endpoint therefore gives every write one (a session and
 * sequence number, agent/endpoint/write-session.ts) and the state machine runs each at most once
 * (agent/kv/sessions.ts, Raft thesis §6.3). Such a write is submitted with `retryUnknown`: it is
 * also retried after a failed forward (outcome unknown), where one without it fails with a
 * TimeoutError saying it may or may not have been applied. Reads are retried freely.
 */
import {
  ElectionError,
  ForbiddenError,
  MembershipError,
  NotLeaderError,
  PersistenceError,
  ProposalError,
  RaftError,
  SerializationError,
  StoppedError,
  TimeoutError,
  describeError,
} from '../../contracts/errors.js';
import type { Timers } from '../../contracts/clock.js';
import type { NodeId } from '../../contracts/log.js';
import type { ForwardKind } from '../../contracts/messages.js';
import type { NetworkClient } from '../../contracts/network.js';
import { clientRequestRefusal } from '../trust/forward-policy.js';

/** Most leaders a request is forwarded to before it gives up. */
const FORWARD_ATTEMPTS_MAX = 5;
/** Most waits for a leadership hand-off to end before a request gives up with RAFT_TRANSFER. */
const TRANSFER_WAITS_MAX = 100;
/** Wait between two looks at a hand-off in progress, ms. */
const TRANSFER_WAIT_MS = 20;

/** What forwarding needs of the node. */
export interface ForwardingHost {
  getNodeId(): NodeId;
  isLeader(): boolean;
  getLeaderId(): NodeId | null;
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  runAdmin(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  waitForLeader(timeoutMs: number): Promise<void>;
  isRunning(): boolean;
}

/** Rebuilds the error a leader reported by code, so callers can match on `code` as usual. */
export function errorFromCode(code: string, message: string, leaderHint: NodeId | null): RaftError {
  switch (code) {
    case 'RAFT_NOT_LEADER':
      return new NotLeaderError(leaderHint, message);
    case 'RAFT_TIMEOUT':
      return new TimeoutError(message);
    case 'RAFT_STOPPED':
      return new StoppedError(message);
    case 'RAFT_PROPOSAL_DROPPED':
    case 'RAFT_BUSY':
    case 'RAFT_TRANSFER':
      return new ProposalError(code, message);
    case 'RAFT_MEMBERSHIP':
      return new MembershipError(message);
    case 'RAFT_ELECTION':
      return new ElectionError(message);
    case 'RAFT_FORBIDDEN':
      return new ForbiddenError(message);
    case 'CODEC_MALFORMED':
    case 'CODEC_LIMIT':
    case 'CODEC_VERSION':
      return new SerializationError(code, message);
    case 'STORAGE_FULL':
      // The leader's disk is (nearly) full: the write was not proposed.
      return new PersistenceError(code, message);
    default:
      return new RaftError('RAFT_INVARIANT', `leader failed: ${code}: ${message}`);
  }
}

/** One attempt: the result, or the error and whether the request may have run all the same. */
type Attempt =
  | { readonly done: true; readonly result: Uint8Array }
  | { readonly done: false; readonly error: RaftError; readonly unknown: boolean };

/** Runs client requests on the leader, wherever it is; see the module comment. */
export class ForwardingClient {
  constructor(
    private readonly host: ForwardingHost,
    private readonly client: NetworkClient,
    private readonly timers: Timers,
  ) {}

  /**
   * Runs `kind` on the leader, wherever it is, within `timeoutMs`. A request the leader refused
   * because it is handing leadership over (RAFT_TRANSFER: nothing was proposed) waits for the
   * next leader and goes there, so a graceful hand-off fails no client request.
   */
  async run(kind: ForwardKind, payload: Uint8Array, timeoutMs: number, retryUnknown = false): Promise<Uint8Array> {
    const deadline = this.timers.nowMs() + timeoutMs;
    // Made only when needed: building an error captures a stack, which showed in profiles.
    let lastError: RaftError | null = null;
    // The error of an attempt whose outcome is unknown: what the caller must hear if all fail.
    let unknownError: RaftError | null = null;
    let transferWaits = 0;
    for (let attempt = 0; attempt < FORWARD_ATTEMPTS_MAX; attempt += 1) {
      const remaining = Math.floor(deadline - this.timers.nowMs());
      if (remaining <= 0 || !this.host.isRunning()) break;
      const leader = this.host.isLeader() ? this.host.getNodeId() : this.host.getLeaderId();
      if (leader === null) {
        await this.host.waitForLeader(remaining);
        continue;
      }
      const outcome =
        leader === this.host.getNodeId()
          ? await this.runHere(kind, payload, remaining)
          : await this.forwardOnce(leader, kind, payload, remaining);
      if (outcome.done) return outcome.result;
      lastError = outcome.error;
      if (outcome.unknown) unknownError = outcome.error;
      const transferring = outcome.error.code === 'RAFT_TRANSFER' && transferWaits < TRANSFER_WAITS_MAX;
      const retry = outcome.error instanceof NotLeaderError || transferring || (retryUnknown && outcome.unknown);
      if (!retry) throw outcome.error;
      if (transferring) {
        // Not an attempt: the hand-off ends within an election timeout, and the deadline bounds the wait.
        transferWaits += 1;
        attempt -= 1;
      }
      // The leader we knew has moved on (or is moving): wait a little for news of the next one.
      await new Promise<void>((resolve) =>
        this.timers.setTimer(Math.min(remaining, transferring ? TRANSFER_WAIT_MS : 10), resolve),
      );
    }
    throw unknownError ?? lastError ?? new NotLeaderError(null, 'no leader is known');
  }

  /** Runs a request on this node, which leads, as an outcome; a refusal during a hand-off is not thrown. */
  private async runHere(kind: ForwardKind, payload: Uint8Array, timeoutMs: number): Promise<Attempt> {
    try {
      return { done: true, result: await this.runLocally(kind, payload, timeoutMs) };
    } catch (error) {
      if (error instanceof RaftError && (error.code === 'RAFT_TRANSFER' || error instanceof NotLeaderError))
        return { done: false, error, unknown: false };
      throw error;
    }
  }

  /**
   * Runs a request on this node, which leads; a write or read of a reserved key, or a disguised admin entry, is
   * refused.
   */
  runLocally(kind: ForwardKind, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const refusal = clientRequestRefusal(kind, payload);
    if (refusal !== null) return Promise.reject(new ForbiddenError(refusal));
    switch (kind) {
      case 'write':
        return this.host.submitCommand(payload, timeoutMs);
      case 'read':
        return this.host.readState(payload, timeoutMs);
      case 'admin':
        return this.host.runAdmin(payload, timeoutMs);
    }
  }

  private async forwardOnce(
    leader: NodeId,
    kind: ForwardKind,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Attempt> {
    let response;
    try {
      response = await this.client.send(
        leader,
        { type: 'ClientForwardRequest', sourceId: this.host.getNodeId(), kind, payload, timeoutMs },
        timeoutMs,
      );
    } catch (error) {
      // A read never changes anything and is retried; a write's outcome is now unknown.
      if (kind === 'read')
        return { done: false, error: new NotLeaderError(null, `forwarding to ${leader} failed`), unknown: false };
      const detail = describeError(error);
      return {
        done: false,
        error: new TimeoutError(
          `forwarding the write to ${leader} failed (${detail}); it may or may not have been applied`,
        ),
        unknown: true,
      };
    }
    if (response.code === '') return { done: true, result: response.result };
    return { done: false, error: errorFromCode(response.code, response.message, response.leaderHint), unknown: false };
  }
}
