/**
 * The identity the local endpoint gives every write, so that the replicated state machine runs
 * it at most once whatever path it takes (Raft thesis §6.3): forwarding retries at a new
 * leader, a duplicated or late datagram, a retransmission that reaches a restarted endpoint.
 *
 * - An implicit session per endpoint incarnation: client id `@<nodeId>/<bootId>.<generation>`,
 *   where the boot id is drawn once per process start (injected) and the generation counts the
 *   sessions this incarnation started (a new one after a long idle time, or when the state
 *   machine has forgotten the current one). Explicit clients may not use ids starting with `@`.
 * - A sequence number per write, carried by every forwarding retry of it (the command bytes are
 *   built once), and the session's watermark: every sequence below it is finished (answered).
 * - A request id: a hash of the CoAP exchange (node, client address and port, token, message id
 *   and the request itself), equal for a retransmission of the same request, so that one
 *   reaching this node after a restart is recognized (see agent/kv/request-ids.ts).
 *
 * The writes in flight are bounded (`writesInFlightMax`, counted over every session of this
 * incarnation): a write past the bound is refused at once (5.03), never queued. The span of one
 * session, from its oldest unfinished sequence to its newest, has the same bound, which keeps the
 * state machine's responses for that session within kv.sessionResponsesMax; a write that would
 * stretch it further (one slow write, e.g. forwarded to a leader that went away, while the others
 * go on) starts a new session instead of being refused: the slow write keeps its identity, and
 * finishes in its own session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../../contracts/errors.js';
import type { Clock } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { CoapRequest } from '../../transport/coap/index.js';
import { REQUEST_ID_BYTES } from '../kv/index.js';
import type { KvOptions, KvSession } from '../kv/index.js';

/** Client ids starting with it belong to endpoint sessions; explicit `?client=` ids may not. */
export const IMPLICIT_CLIENT_PREFIX = '@';

/** Options of the endpoint's implicit session. */
export interface WriteSessionOptions {
  /**
   * Most writes in flight, over every session; also the most sequences one session spans, from
   * its oldest unfinished write to its newest. Default 128. Limit: 1 to kv.sessionResponsesMax
   * (the agent checks it).
   */
  readonly writesInFlightMax: number;
  /**
   * After this long without a write (by this node's clock), the next write starts a new session,
   * well before the state machine would expire the idle one (kv.sessionTtlMs, one hour by
   * default, in log time). Default 1,800,000 (30 minutes). Limit: >= 1.
   */
  readonly idleRotateMs: number;
}

export const DEFAULT_WRITE_SESSION_OPTIONS: WriteSessionOptions = { writesInFlightMax: 128, idleRotateMs: 1_800_000 };

/** The boot id of a process: 8 random bytes, hex. Called once, at start. */
export function newBootId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The session options that fit the state machine's limits: writes in flight within
 * kv.sessionResponsesMax, rotation within half of kv.sessionTtlMs. Throws ConfigError when
 * kv.clientIdBytesMax cannot hold this node's session ids.
 */
export function writeSessionOptionsFor(kv: KvOptions, nodeId: string): WriteSessionOptions {
  // '@' + node id + '/' + 16 hex digits + '.' + a generation of up to 15 digits.
  const idBytes = Buffer.byteLength(nodeId, 'utf8') + 34;
  if (idBytes > kv.clientIdBytesMax)
    throw new ConfigError([
      `kv.clientIdBytesMax: must be at least ${idBytes} to hold the endpoint's session ids for node ${nodeId}, ` +
        `got ${kv.clientIdBytesMax}`,
    ]);
  return {
    writesInFlightMax: Math.min(DEFAULT_WRITE_SESSION_OPTIONS.writesInFlightMax, kv.sessionResponsesMax),
    idleRotateMs: Math.min(DEFAULT_WRITE_SESSION_OPTIONS.idleRotateMs, Math.floor(kv.sessionTtlMs / 2)),
  };
}

/** What the session needs: this node's id, the incarnation's boot id, and a clock. */
export interface WriteSessionDeps {
  readonly nodeId: string;
  /** Drawn once per process start (e.g. 8 random bytes in hex); never reused. */
  readonly bootId: string;
  readonly clock: Clock;
}

/** One write's place in the session. */
export interface WriteTicket {
  readonly session: Required<KvSession>;
  readonly generation: number;
}

/** The implicit session of one endpoint incarnation; see the module comment. */
export class ImplicitSession {
  private generation = 0;
  /** Invariant: > every sequence handed out in this generation. */
  private nextSeq = 1;
  /** The unfinished sequences of this generation; insertion order is increasing sequence. */
  private inFlight = new Set<number>();
  /**
   * The unfinished writes of earlier generations, by generation (none empty). Invariant:
   * retiredCount is the sum of their sizes, and retiredCount + inFlight.size <= writesInFlightMax.
   */
  private readonly retired = new Map<number, Set<number>>();
  private retiredCount = 0;
  private lastUsedMs: number;

  constructor(
    private readonly deps: WriteSessionDeps,
    private readonly options: WriteSessionOptions,
  ) {
    assert(
      Number.isSafeInteger(options.writesInFlightMax) && options.writesInFlightMax >= 1,
      'writesInFlightMax is a positive integer',
    );
    assert(options.idleRotateMs >= 1, 'idleRotateMs is positive');
    assert(deps.bootId.length > 0, 'a boot id is given');
    this.lastUsedMs = deps.clock.nowMs();
  }

  /** The client id of the current session. */
  get clientId(): string {
    return `${IMPLICIT_CLIENT_PREFIX}${this.deps.nodeId}/${this.deps.bootId}.${this.generation}`;
  }

  /** How many writes are unfinished, in every session. */
  get inFlightCount(): number {
    return this.inFlight.size + this.retiredCount;
  }

  /** Gives the next write its sequence and watermark; null when writesInFlightMax is reached. */
  begin(): WriteTicket | null {
    const nowMs = this.deps.clock.nowMs();
    if (this.inFlightCount >= this.options.writesInFlightMax) return null;
    if (this.inFlight.size === 0 && this.nextSeq > 1 && nowMs - this.lastUsedMs >= this.options.idleRotateMs)
      this.rotate();
    // A slow write must not hold up the others: past the span, they go on in a new session.
    if (this.nextSeq - this.oldestUnfinished() + 1 > this.options.writesInFlightMax) this.rotate();
    const oldest = this.oldestUnfinished();
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.inFlight.add(seq);
    this.lastUsedMs = nowMs;
    assert(oldest <= seq, 'the watermark is at most the sequence');
    return { session: { clientId: this.clientId, seq, ackedBelow: oldest }, generation: this.generation };
  }

  /** Marks a write finished (answered): later writes tell the state machine to forget it. */
  finish(ticket: WriteTicket): void {
    if (ticket.generation !== this.generation) {
      const unfinished = this.retired.get(ticket.generation);
      if (unfinished?.delete(ticket.session.seq) !== true) return;
      this.retiredCount -= 1;
      if (unfinished.size === 0) this.retired.delete(ticket.generation);
      return;
    }
    this.inFlight.delete(ticket.session.seq);
    this.lastUsedMs = this.deps.clock.nowMs();
  }

  /** The state machine no longer knows the ticket's session: later writes start a new one. */
  forgotten(ticket: WriteTicket): void {
    if (ticket.generation === this.generation) this.rotate();
  }

  private oldestUnfinished(): number {
    const first = this.inFlight.values().next();
    return first.done === true ? this.nextSeq : first.value;
  }

  private rotate(): void {
    // Writes of the old session keep their identity; they just no longer move its watermark.
    if (this.inFlight.size > 0) {
      this.retired.set(this.generation, this.inFlight);
      this.retiredCount += this.inFlight.size;
    }
    this.generation += 1;
    this.nextSeq = 1;
    this.inFlight = new Set();
  }
}

/**
 * The request id of a CoAP request to this node's endpoint: equal for its retransmissions
 * (same client address and port, token and message id, same request), different for any other
 * request. Hash inputs are length-prefixed so that no two field lists hash alike.
 */
export function requestIdOf(nodeId: string, request: CoapRequest): Uint8Array {
  // Every field but the payload goes into one buffer, then the payload is hashed in place: the
  // same bytes as hashing field by field, without a buffer per field.
  const texts = [REQUEST_ID_TAG, nodeId, request.peer.address, String(request.peer.port), request.peer.identity ?? ''];
  const later = [String(request.messageId), request.method, request.path.join('/'), request.query.join('&')];
  let bytes = 4 * (texts.length + later.length + 3 + request.ifMatch.length) + request.token.byteLength + 1;
  for (const text of texts) bytes += Buffer.byteLength(text, 'utf8');
  for (const text of later) bytes += Buffer.byteLength(text, 'utf8');
  for (const etag of request.ifMatch) bytes += etag.byteLength;
  const head = Buffer.allocUnsafe(bytes);
  let at = 0;
  const text = (value: string): void => {
    const length = head.write(value, at + 4, 'utf8');
    head.writeUInt32BE(length, at);
    at += 4 + length;
  };
  const binary = (value: Uint8Array): void => {
    head.writeUInt32BE(value.byteLength, at);
    head.set(value, at + 4);
    at += 4 + value.byteLength;
  };
  for (const value of texts) text(value);
  binary(request.token);
  for (const value of later) text(value);
  for (const etag of request.ifMatch) binary(etag);
  text(request.ifNoneMatch ? '1' : '0');
  head.writeUInt32BE(request.payload.byteLength, at);
  at += 4;
  assert(at === head.byteLength, 'the request id fields fill their buffer');
  const digest = createHash('sha256').update(head).update(request.payload).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, REQUEST_ID_BYTES);
}

/** The first field of every request id's hash input: names the scheme and its version. */
const REQUEST_ID_TAG = 'coraft-endpoint-request/1';
