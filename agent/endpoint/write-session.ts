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
import * as nodeCrypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../../contracts/errors.js';
import type { Clock } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { CoapRequest } from '../../transport/coap/index.js';
import { REQUEST_ID_BYTES } from '../kv/index.js';
import type { KvOptions, KvSession } from '../kv/index.js';
import { decimalLength, writeDecimalDigits } from './decimal-ascii.js';

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

/**
 * The unfinished sequences of one session, which span fewer than `span` sequences from the oldest
 * to the next: a flag per sequence in a ring, so that a write makes no heap object (a Set took and
 * dropped an entry per write, and its tables, replaced every few writes, were made in the old
 * generation once the Set was old: 3 % of what a 64-client leader's full collections freed).
 */
export class SequenceWindow {
  private readonly unfinished: Uint8Array;
  /** The next sequence handed out. Invariant: > every sequence added. */
  private nextSeq = 1;
  /** The oldest unfinished sequence, nextSeq when none is. */
  private oldestSeq = 1;
  private count = 0;

  constructor(span: number) {
    assert(Number.isSafeInteger(span) && span >= 1, 'a session spans at least one sequence');
    this.unfinished = new Uint8Array(span);
  }

  /** How many sequences are unfinished. */
  get size(): number {
    return this.count;
  }

  /** The next sequence to hand out. */
  get next(): number {
    return this.nextSeq;
  }

  /** The oldest unfinished sequence, or the next one when none is. */
  get oldest(): number {
    return this.oldestSeq;
  }

  /** Hands out the next sequence, unfinished; the span must have room (next - oldest < span). */
  add(): number {
    const seq = this.nextSeq;
    assert(seq - this.oldestSeq < this.unfinished.length, 'a session spans fewer sequences than its bound');
    this.unfinished[seq % this.unfinished.length] = 1;
    this.nextSeq += 1;
    this.count += 1;
    return seq;
  }

  /** Marks `seq` finished; false when it was not unfinished here. */
  delete(seq: number): boolean {
    const at = seq % this.unfinished.length;
    if (seq < this.oldestSeq || seq >= this.nextSeq || this.unfinished[at] !== 1) return false;
    this.unfinished[at] = 0;
    this.count -= 1;
    while (this.oldestSeq < this.nextSeq && this.unfinished[this.oldestSeq % this.unfinished.length] === 0)
      this.oldestSeq += 1;
    return true;
  }
}

/** The implicit session of one endpoint incarnation; see the module comment. */
export class ImplicitSession {
  private generation = 0;
  /** The unfinished sequences of this generation. */
  private inFlight: SequenceWindow;
  /**
   * The unfinished writes of earlier generations, by generation (none empty). Invariant:
   * retiredCount is the sum of their sizes, and retiredCount + inFlight.size <= writesInFlightMax.
   */
  private readonly retired = new Map<number, SequenceWindow>();
  private retiredCount = 0;
  private lastUsedMs: number;
  /** Invariant: the client id of this generation (built once per session, not per write). */
  private clientIdValue: string;

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
    this.clientIdValue = this.clientIdOf(this.generation);
    this.inFlight = new SequenceWindow(options.writesInFlightMax);
  }

  /** The client id of the current session. */
  get clientId(): string {
    return this.clientIdValue;
  }

  private clientIdOf(generation: number): string {
    return `${IMPLICIT_CLIENT_PREFIX}${this.deps.nodeId}/${this.deps.bootId}.${generation}`;
  }

  /** How many writes may be in flight at once (writesInFlightMax). */
  get slotCount(): number {
    return this.options.writesInFlightMax;
  }

  /** How many writes are unfinished, in every session. */
  get inFlightCount(): number {
    return this.inFlight.size + this.retiredCount;
  }

  /** Gives the next write its sequence and watermark; null when writesInFlightMax is reached. */
  begin(): WriteTicket | null {
    const nowMs = this.deps.clock.nowMs();
    if (this.inFlightCount >= this.options.writesInFlightMax) return null;
    if (this.inFlight.size === 0 && this.inFlight.next > 1 && nowMs - this.lastUsedMs >= this.options.idleRotateMs)
      this.rotate();
    // A slow write must not hold up the others: past the span, they go on in a new session.
    if (this.inFlight.next - this.inFlight.oldest + 1 > this.options.writesInFlightMax) this.rotate();
    const oldest = this.inFlight.oldest;
    const seq = this.inFlight.add();
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

  private rotate(): void {
    // Writes of the old session keep their identity; they just no longer move its watermark.
    if (this.inFlight.size > 0) {
      this.retired.set(this.generation, this.inFlight);
      this.retiredCount += this.inFlight.size;
    }
    this.generation += 1;
    this.clientIdValue = this.clientIdOf(this.generation);
    this.inFlight = new SequenceWindow(this.options.writesInFlightMax);
  }
}

/**
 * The request id of a CoAP request to this node's endpoint: equal for its retransmissions
 * (same client address and port, token and message id, same request), different for any other
 * request. Hash inputs are length-prefixed so that no two field lists hash alike.
 *
 * SHA-256 (truncated to REQUEST_ID_BYTES), not a cheaper non-cryptographic digest: two requests
 * with one id are one write to the state machine, so a client able to make its request collide
 * with another client's would have that write dropped and answered with its own response.
 * Hashing itself is cheap (SHA extensions: about 2 us for 4 KiB); what cost was the Hash object
 * (createHash, update, digest: 4 % of a loaded leader's CPU with the field writers' closures). So
 * every field and the payload go into one reused buffer, hashed in one call: the same bytes as
 * hashing field by field.
 */
export function requestIdOf(nodeId: string, request: CoapRequest): Uint8Array {
  const { peer, token, ifMatch, payload } = request;
  // The port, message id, path and query are written as the text of String(port), String(messageId),
  // path.join('/') and query.join('&'), without building those strings (every write hashes its request).
  const identity = peer.identity ?? '';
  let bytes = 4 * (FIELD_COUNT + ifMatch.length) + token.byteLength + 1 + payload.byteLength;
  bytes += REQUEST_ID_TAG_BYTES + Buffer.byteLength(nodeId, 'utf8') + Buffer.byteLength(peer.address, 'utf8');
  bytes += decimalLength(peer.port) + Buffer.byteLength(identity, 'utf8') + decimalLength(request.messageId);
  bytes += Buffer.byteLength(request.method, 'utf8') + joinedLength(request.path) + joinedLength(request.query);
  for (const etag of ifMatch) bytes += etag.byteLength;
  // A large payload (a value sent block-wise) is hashed where it is, after the other fields, not copied in.
  const inline = bytes <= REQUEST_ID_INPUT_BYTES_MAX;
  const input = inputBuffer(inline ? bytes : bytes - payload.byteLength);
  let at = writeText(input, 0, REQUEST_ID_TAG);
  at = writeText(input, at, nodeId);
  at = writeText(input, at, peer.address);
  at = writeDecimal(input, at, peer.port);
  at = writeText(input, at, identity);
  at = writeBinary(input, at, token);
  at = writeDecimal(input, at, request.messageId);
  at = writeText(input, at, request.method);
  at = writeJoined(input, at, request.path, SLASH);
  at = writeJoined(input, at, request.query, AMPERSAND);
  for (const etag of ifMatch) at = writeBinary(input, at, etag);
  at = writeText(input, at, request.ifNoneMatch ? '1' : '0');
  at = inline ? writeBinary(input, at, payload) : input.writeUInt32BE(payload.byteLength, at);
  assert(at === input.byteLength, 'the request id fields fill their buffer');
  const digest = inline ? sha256(input) : createHash('sha256').update(input).update(payload).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, REQUEST_ID_BYTES);
}

/** Node's one-call hash (`crypto.hash`, Node 20.12 and later), or undefined. */
type OneCallHash = (algorithm: string, data: Buffer, outputEncoding: 'buffer') => Buffer;

/**
 * SHA-256 of `input` through `oneCall` when Node has it, else through a Hash object: the same
 * digest. `crypto.hash` came in Node 20.12, and the engines field allows 20.11 (the armv7 build
 * test:arm runs), where it is undefined.
 */
export function sha256With(oneCall: OneCallHash | undefined): (input: Buffer) => Buffer {
  if (oneCall !== undefined) return (input) => oneCall('sha256', input, 'buffer');
  return (input) => createHash('sha256').update(input).digest();
}

const sha256 = sha256With(typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : undefined);

/**
 * Largest hash input kept for the next request id, bytes: the input is built in one buffer,
 * reused (the hash is taken synchronously), so a write costs no allocation for it. A larger
 * request (a body sent block-wise) has its other fields written there and its payload hashed
 * after them where it is: the same digest, without a copy of the body.
 */
export const REQUEST_ID_INPUT_BYTES_MAX = 64 * 1024;
let reusedInput = Buffer.allocUnsafeSlow(1024);

/** A buffer of exactly `bytes` bytes for a hash input: a view of the reused one when it fits. */
function inputBuffer(bytes: number): Buffer {
  if (bytes > REQUEST_ID_INPUT_BYTES_MAX) return Buffer.allocUnsafeSlow(bytes);
  if (bytes > reusedInput.byteLength)
    reusedInput = Buffer.allocUnsafeSlow(Math.min(REQUEST_ID_INPUT_BYTES_MAX, 2 ** Math.ceil(Math.log2(bytes))));
  return reusedInput.subarray(0, bytes);
}

/** Fields of a request id's hash input besides the If-Match etags, each with a 4-byte length. */
const FIELD_COUNT = 12;

/** Writes `value` (UTF-8) after its 4-byte length at `at`; returns where the next field goes. */
function writeText(into: Buffer, at: number, value: string): number {
  const length = into.write(value, at + 4, 'utf8');
  into.writeUInt32BE(length, at);
  return at + 4 + length;
}

const SLASH = 0x2f;
const AMPERSAND = 0x26;

/** The UTF-8 length of `parts` joined by a one-byte separator. */
function joinedLength(parts: readonly string[]): number {
  let length = Math.max(0, parts.length - 1);
  for (const part of parts) length += Buffer.byteLength(part, 'utf8');
  return length;
}

/** Writes `parts` joined by `separator` (one ASCII byte) after its 4-byte length at `at`, as writeText would. */
function writeJoined(into: Buffer, at: number, parts: readonly string[], separator: number): number {
  let end = at + 4;
  for (let i = 0; i < parts.length; i += 1) {
    if (i > 0) {
      into[end] = separator;
      end += 1;
    }
    end += into.write(parts[i] ?? '', end, 'utf8');
  }
  into.writeUInt32BE(end - at - 4, at);
  return end;
}

/** Writes String(value) (a safe integer >= 0) after its 4-byte length at `at`, as writeText would. */
function writeDecimal(into: Buffer, at: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'ports and message ids are integers >= 0');
  const length = decimalLength(value);
  into.writeUInt32BE(length, at);
  return writeDecimalDigits(into, at + 4, value);
}

/** Writes `value` after its 4-byte length at `at`; returns where the next field goes. */
function writeBinary(into: Buffer, at: number, value: Uint8Array): number {
  into.writeUInt32BE(value.byteLength, at);
  into.set(value, at + 4);
  return at + 4 + value.byteLength;
}

/** The first field of every request id's hash input: names the scheme and its version. */
const REQUEST_ID_TAG = 'coraft-endpoint-request/1';
const REQUEST_ID_TAG_BYTES = Buffer.byteLength(REQUEST_ID_TAG, 'utf8');
