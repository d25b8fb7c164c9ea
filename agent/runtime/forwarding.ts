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
 *
 * A leader that goes away while a forward to it is in flight (killed, or stopped right after a
 * hand-off) never answers it. So a forward that may be retried (a read, or a write with
 * `retryUnknown`) stops waiting as soon as this node learns of another leader, or of none, and
 * goes to the next one, instead of spending the caller's whole timeout on the one that left. A
 * leader's RAFT_TIMEOUT answer (it stopped, or lost leadership, before the entry committed) is an
 * unknown outcome too.
 *
 * Reads and writes share the peer transport's requests to the leader (outstandingPerPeerMax), so
 * forwarded reads may hold at most FORWARDED_READS_MAX of them: a flood of reads through a follower
 * is refused there (RAFT_BUSY) before it can refuse that follower's writes.
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
  OUTCOME_UNKNOWN,
  TimeoutError,
  describeError,
} from '../../contracts/errors.js';
import type { Timers } from '../../contracts/clock.js';
import type { NodeId } from '../../contracts/log.js';
import type { ForwardKind } from '../../contracts/messages.js';
import type { NetworkClient } from '../../contracts/network.js';
import { clientRequestRefusal } from '../trust/forward-policy.js';
import { assert } from '../../contracts/assert.js';
import { DEFAULT_COAP_CLIENT_OPTIONS } from '../../transport/coap/config.js';

/**
 * Most forwarded reads this node has in flight to the leader at once: three quarters of the peer
 * transport's requests to one peer (outstandingPerPeerMax, 128), so writes and admin commands
 * always keep the other quarter. A read past it is refused RAFT_BUSY (5.03: nothing ran, retry).
 */
export const FORWARDED_READS_MAX = 96;
/**
 * The requests to one peer writes keep from reads (the HTTP transports' bound, the same 128, is
 * checked by test/agent/runtime/forwarding-shares.test.ts: importing their module here would load
 * it into every agent).
 */
export const FORWARDED_WRITES_KEPT_MIN = 16;
const WRITES_KEPT = DEFAULT_COAP_CLIENT_OPTIONS.outstandingPerPeerMax - FORWARDED_READS_MAX;
assert(WRITES_KEPT >= FORWARDED_WRITES_KEPT_MIN, 'forwarded reads leave writes a share of the requests to the leader');

/** Most leaders a request is forwarded to before it gives up. */
const FORWARD_ATTEMPTS_MAX = 5;
/** Most waits for a leadership hand-off to end before a request gives up with RAFT_TRANSFER. */
const TRANSFER_WAITS_MAX = 100;
/** Wait between two looks at a hand-off in progress, ms. */
const TRANSFER_WAIT_MS = 20;
/**
 * Longest a request waits, in all, for some leader to be known, ms: an election takes a few
 * election timeouts at most, so past this the cluster has no quorum, and the request is refused
 * (NotLeaderError 'no leader is known', 5.03) rather than held for the whole of a long deadline
 * (an admin command's 65 s), past which its client gave up on an endpoint that seemed dead.
 */
export const LEADER_WAIT_MS_MAX = 10_000;

/** A wait for the known leader to change; `cancel` ends it (and frees its place) when no longer needed. */
export interface LeaderChange {
  readonly changed: Promise<void>;
  cancel(): void;
}

/** What forwarding needs of the node. */
export interface ForwardingHost {
  getNodeId(): NodeId;
  isLeader(): boolean;
  getLeaderId(): NodeId | null;
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  runAdmin(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  waitForLeader(timeoutMs: number): Promise<void>;
  /** Resolves once the leader this node knows is no longer `from` (another, or none), or it stops. */
  leaderChange(from: NodeId): LeaderChange;
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

/** The outcome of a request this node, the leader, refused during a hand-off or after it lost the lead; else null. */
function handOffOutcome(error: unknown): Attempt | null {
  if (error instanceof RaftError && (error.code === 'RAFT_TRANSFER' || error instanceof NotLeaderError))
    return { done: false, error, unknown: false };
  return null;
}

/** Runs client requests on the leader, wherever it is; see the module comment. */
export class ForwardingClient {
  /** Forwarded reads sent and not yet settled in the transport. Invariant: <= FORWARDED_READS_MAX. */
  private readsInFlight = 0;

  constructor(
    private readonly host: ForwardingHost,
    private readonly client: NetworkClient,
    private readonly timers: Timers,
  ) {}

  /**
   * Runs `kind` on the leader, wherever it is, within `timeoutMs`. A request the leader refused
   * because it is handing leadership over (RAFT_TRANSFER: nothing was proposed) waits for the
   * next leader and goes there, so a graceful hand-off fails no client request. `what` names the
   * request in the error of a forward whose outcome is unknown (default: "the write", or "the
   * admin command").
   */
  run(
    kind: ForwardKind,
    payload: Uint8Array,
    timeoutMs: number,
    retryUnknown = false,
    what: string = kind === 'admin' ? 'the admin command' : 'the write',
  ): Promise<Uint8Array> {
    const now = this.timers.nowMs();
    const deadline = now + timeoutMs;
    const remaining = Math.floor(deadline - now);
    if (remaining <= 0 || !this.host.isRunning() || !this.host.isLeader())
      return this.attempts(kind, payload, deadline, { retryUnknown, what }, null);
    // The common case, this node leads: the first attempt runs here as the loop's would, without the loop's async
    // frames and outcome object (a third of a loaded leader's allocation on this path); a refusal during a
    // hand-off goes on to the loop as that attempt's outcome.
    let first: Promise<Uint8Array>;
    try {
      first = this.runLocally(kind, payload, remaining);
    } catch (error) {
      first = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return first.catch((error: unknown) => {
      const outcome = handOffOutcome(error);
      if (outcome === null) throw error;
      return this.attempts(kind, payload, deadline, { retryUnknown, what }, { outcome, remaining });
    });
  }

  /**
   * run's attempts, up to FORWARD_ATTEMPTS_MAX; `first`: the outcome of a first attempt made already, with the
   * time that remained when it was made.
   */
  private async attempts(
    kind: ForwardKind,
    payload: Uint8Array,
    deadline: number,
    { retryUnknown, what }: { readonly retryUnknown: boolean; readonly what: string },
    first: { readonly outcome: Attempt; readonly remaining: number } | null,
  ): Promise<Uint8Array> {
    // Made only when needed: building an error captures a stack, which showed in profiles.
    let lastError: RaftError | null = null;
    // The error of an attempt whose outcome is unknown: what the caller must hear if all fail.
    let unknownError: RaftError | null = null;
    let transferWaits = 0;
    let leaderWaitedMs = 0;
    let made = first;
    for (let attempt = 0; attempt < FORWARD_ATTEMPTS_MAX; attempt += 1) {
      let outcome: Attempt;
      let remaining: number;
      if (made !== null) {
        ({ outcome, remaining } = made);
        made = null;
      } else {
        remaining = Math.floor(deadline - this.timers.nowMs());
        if (remaining <= 0 || !this.host.isRunning()) break;
        const leader = this.host.isLeader() ? this.host.getNodeId() : this.host.getLeaderId();
        if (leader === null) {
          if (leaderWaitedMs >= LEADER_WAIT_MS_MAX) break;
          const waitStarted = this.timers.nowMs();
          await this.host.waitForLeader(Math.min(remaining, LEADER_WAIT_MS_MAX - leaderWaitedMs));
          leaderWaitedMs += this.timers.nowMs() - waitStarted;
          continue;
        }
        outcome =
          leader === this.host.getNodeId()
            ? await this.runHere(kind, payload, remaining)
            : await this.forwardOnce(leader, kind, payload, remaining, kind === 'read' || retryUnknown, what);
      }
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
      const outcome = handOffOutcome(error);
      if (outcome === null) throw error;
      return outcome;
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
    retryable: boolean,
    what: string,
  ): Promise<Attempt> {
    if (kind === 'read' && this.readsInFlight >= FORWARDED_READS_MAX)
      return notSent(
        leader,
        `${FORWARDED_READS_MAX} forwarded reads in flight already (writes keep ${WRITES_KEPT} requests to the leader)`,
      );
    const sent = this.client.send(
      leader,
      { type: 'ClientForwardRequest', sourceId: this.host.getNodeId(), kind, payload, timeoutMs },
      timeoutMs,
    );
    if (kind === 'read') {
      // Counted until the transport lets the request go, which may be after this attempt stops waiting for it.
      this.readsInFlight += 1;
      assert(this.readsInFlight <= FORWARDED_READS_MAX, 'forwarded reads within their share');
      const release = (): void => {
        this.readsInFlight -= 1;
      };
      sent.then(release, release);
    }
    const change = retryable ? this.host.leaderChange(leader) : null;
    let response;
    try {
      response = await (change === null ? sent : Promise.race([sent, change.changed.then(() => null)]));
    } catch (error) {
      return error instanceof RaftError && error.code === 'NET_BUSY'
        ? notSent(leader, describeError(error))
        : failedForward(leader, kind, describeError(error), what);
    } finally {
      change?.cancel();
    }
    if (response === null) {
      // The leader changed while it had the request: its answer, if it ever comes, goes unread.
      sent.catch(() => undefined);
      return failedForward(leader, kind, `the leader changed from ${leader} before it answered`, what);
    }
    if (response.code === '') return { done: true, result: response.result };
    const error = errorFromCode(response.code, response.message, response.leaderHint);
    return { done: false, error, unknown: error instanceof TimeoutError };
  }
}

/**
 * A forward this node never sent (NET_BUSY: its requests to `leader` are at their limit): nothing
 * ran, so the caller hears RAFT_BUSY (on the endpoint 5.03, "nothing was applied, retry later"),
 * not an unknown outcome.
 */
function notSent(leader: NodeId, detail: string): Attempt {
  return {
    done: false,
    error: new ProposalError('RAFT_BUSY', `not forwarded to ${leader}: ${detail}`),
    unknown: false,
  };
}

/** A forward to `leader` that got no answer: a read is retried; the outcome of `what` (a write) is unknown. */
function failedForward(leader: NodeId, kind: ForwardKind, detail: string, what: string): Attempt {
  if (kind === 'read')
    return {
      done: false,
      error: new NotLeaderError(null, `forwarding to ${leader} failed (${detail})`),
      unknown: false,
    };
  return {
    done: false,
    error: new TimeoutError(`forwarding ${what} to ${leader} failed (${detail}); ${OUTCOME_UNKNOWN}`),
    unknown: true,
  };
}
