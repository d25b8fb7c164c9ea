/**
 * The error hierarchy of coraft, after the reference's exception tree: `RaftError` at the
 * root with `NetworkError`, `PersistenceError`, `SerializationError` and `ElectionError`
 * beneath it, plus the operating errors a client of the node needs to act on
 * (`NotLeaderError` with its leader hint, `TimeoutError`, `ConfigError`, ...).
 *
 * Every class has a fixed `name` and a readonly string-literal `code`; callers match on
 * `code`, never on message text. An error that wraps another sets `cause`. `describeError`
 * gives the text of anything thrown.
 *
 * This file is pure (no imports) so that the core may use it.
 */

/** Every code an error of coraft can carry. */
export type RaftErrorCode =
  | 'RAFT_INVARIANT'
  | 'RAFT_NOT_LEADER'
  | 'RAFT_TIMEOUT'
  | 'RAFT_STOPPED'
  | 'RAFT_PROPOSAL_DROPPED'
  | 'RAFT_BUSY'
  | 'RAFT_MEMBERSHIP'
  | 'RAFT_TRANSFER'
  | 'RAFT_ELECTION'
  | 'RAFT_FORBIDDEN'
  | 'NET_UNREACHABLE'
  | 'NET_TIMEOUT'
  | 'NET_REJECTED'
  | 'NET_BUSY'
  | 'NET_AUTH'
  | 'NET_TOO_LARGE'
  | 'NET_ADDRESS'
  | 'CODEC_MALFORMED'
  | 'CODEC_LIMIT'
  | 'CODEC_VERSION'
  | 'CODEC_SCHEMA'
  | 'STORAGE_IO'
  | 'STORAGE_CORRUPT'
  | 'STORAGE_FULL'
  | 'STORAGE_LOCKED'
  | 'STORAGE_VERSION'
  | 'STORAGE_CLOSED'
  | 'CONFIG_INVALID'
  | 'DTLS_ALERT'
  | 'DTLS_HANDSHAKE'
  | 'DTLS_LIMIT';

/** Options every error constructor accepts. */
export interface RaftErrorOptions {
  /** The error this one wraps. */
  readonly cause?: unknown;
}

/** The root of coraft's error tree (the reference's `raft_exception`). */
export class RaftError extends Error {
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string, options: RaftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  override get name(): string {
    return 'RaftError';
  }
}

/**
 * A broken invariant: a bug, never an operating condition. It is thrown by `assert` and
 * `assertNever` and is never caught to continue; the process stops and restarts from disk.
 */
export class InvariantError extends RaftError {
  constructor(message: string) {
    super('RAFT_INVARIANT', `invariant violated: ${message}`);
  }

  override get name(): string {
    return 'InvariantError';
  }
}

/**
 * A peer could not be reached, timed out or refused the request (reference `network_exception`).
 * NET_BUSY: the request was never sent (this side's limit on requests outstanding was reached).
 * NET_ADDRESS: the request was never sent because the peer's address cannot be used from this
 * node as the members stand (another member is known at it, or this node's socket cannot send
 * to its address family): no retry helps until an address changes, so an operator must hear it.
 */
export class NetworkError extends RaftError {
  constructor(
    code:
      'NET_UNREACHABLE' | 'NET_TIMEOUT' | 'NET_REJECTED' | 'NET_BUSY' | 'NET_AUTH' | 'NET_TOO_LARGE' | 'NET_ADDRESS',
    message: string,
    options: RaftErrorOptions = {},
  ) {
    super(code, message, options);
  }

  override get name(): string {
    return 'NetworkError';
  }
}

/** A durable write or read failed; fatal for the node (reference `persistence_exception`). */
export class PersistenceError extends RaftError {
  constructor(
    code: 'STORAGE_IO' | 'STORAGE_CORRUPT' | 'STORAGE_FULL' | 'STORAGE_LOCKED' | 'STORAGE_VERSION' | 'STORAGE_CLOSED',
    message: string,
    options: RaftErrorOptions = {},
  ) {
    super(code, message, options);
  }

  override get name(): string {
    return 'PersistenceError';
  }
}

/** Bytes that are not a valid message of the expected kind (reference `serialization_exception`). */
export class SerializationError extends RaftError {
  constructor(
    code: 'CODEC_MALFORMED' | 'CODEC_LIMIT' | 'CODEC_VERSION' | 'CODEC_SCHEMA',
    message: string,
    options: RaftErrorOptions = {},
  ) {
    super(code, message, options);
  }

  override get name(): string {
    return 'SerializationError';
  }
}

/** An election could not be held or won (reference `election_exception`). */
export class ElectionError extends RaftError {
  constructor(message: string, options: RaftErrorOptions = {}) {
    super('RAFT_ELECTION', message, options);
  }

  override get name(): string {
    return 'ElectionError';
  }
}

/** The request needs the leader and this node is not it; `leaderHint` names the leader if known. */
export class NotLeaderError extends RaftError {
  readonly leaderHint: string | null;

  constructor(leaderHint: string | null, message?: string) {
    super(
      'RAFT_NOT_LEADER',
      message ?? (leaderHint === null ? 'not leader; leader unknown' : `not leader; leader is ${leaderHint}`),
    );
    this.leaderHint = leaderHint;
  }

  override get name(): string {
    return 'NotLeaderError';
  }
}

/**
 * How a TimeoutError's message ends when a command's outcome is unknown: said once, so that the
 * local endpoint, which tells a client the same of any write whose outcome it does not know,
 * passes it on instead of saying it again.
 */
export const OUTCOME_UNKNOWN = 'it may or may not have been applied';

/**
 * The operation did not finish in time, or the node stopped before it finished. Its outcome is
 * unknown: such a command may still be committed later.
 */
export class TimeoutError extends RaftError {
  constructor(message: string) {
    super('RAFT_TIMEOUT', message);
  }

  override get name(): string {
    return 'TimeoutError';
  }
}

/** The node is stopped or stopping; the operation was not started. */
export class StoppedError extends RaftError {
  constructor(message = 'node is stopped') {
    super('RAFT_STOPPED', message);
  }

  override get name(): string {
    return 'StoppedError';
  }
}

/**
 * A proposal was refused or dropped before it was appended (a limit was hit, a transfer is in
 * progress, the entry is too large). It definitely did not happen.
 */
export class ProposalError extends RaftError {
  constructor(code: 'RAFT_PROPOSAL_DROPPED' | 'RAFT_BUSY' | 'RAFT_TRANSFER', message: string) {
    super(code, message);
  }

  override get name(): string {
    return 'ProposalError';
  }
}

/** A membership change was refused or failed (one already in progress, learner never caught up, ...). */
export class MembershipError extends RaftError {
  constructor(message: string, options: RaftErrorOptions = {}) {
    super('RAFT_MEMBERSHIP', message, options);
  }

  override get name(): string {
    return 'MembershipError';
  }
}

/**
 * A node holding state of before a `coraft recover --force-new-cluster` heard from the recovered
 * cluster (agent/runtime/recovery-epoch.ts): it was left out, and stops until it is wiped and
 * added back. Ends the agent as a configuration error does (exit 78: a restart cannot help).
 */
export class LeftOutError extends MembershipError {
  override get name(): string {
    return 'LeftOutError';
  }
}

/**
 * An operation that needs an authority the request does not carry: an admin command that is
 * unsigned, wrongly signed, for another cluster, expired or replayed, or a peer's forwarded
 * request for something only a signed admin command may do (a reserved key).
 */
export class ForbiddenError extends RaftError {
  constructor(message: string) {
    super('RAFT_FORBIDDEN', message);
  }

  override get name(): string {
    return 'ForbiddenError';
  }
}

/** A configuration file or option is invalid; `problems` names every bad field with its limit. */
export class ConfigError extends RaftError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }

  override get name(): string {
    return 'ConfigError';
  }
}

/**
 * The text of anything thrown, for a log field or an error message: an Error's message (its
 * stack, which starts with the message, when `stack` is set and there is one), or the value as
 * a string.
 */
export function describeError(error: unknown, options: { readonly stack?: boolean } = {}): string {
  if (!(error instanceof Error)) return String(error);
  return options.stack === true ? (error.stack ?? error.message) : error.message;
}

/** Whether `error` says that the package `pkg` itself (not something it loads) cannot be found. */
export function isPackageMissing(error: unknown, pkg: string): boolean {
  if (!(error instanceof Error)) return false;
  const code: unknown = Reflect.get(error, 'code');
  const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
  return missing && (error.message.includes(`'${pkg}'`) || error.message.includes(`"${pkg}"`));
}
