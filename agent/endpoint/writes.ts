/**
 * The local endpoint's write path: a PUT or DELETE becomes one KV command, built once with its
 * identity and submitted through the node, which forwards it to the leader (and retries there
 * with the same bytes). A write without `?client=&seq=` runs in the endpoint's implicit session
 * with a request id (write-session.ts), so no path can apply it twice; a write with them runs in
 * that explicit session, exactly as before.
 *
 * Answers: the KV result, or an error response. Whenever a write's outcome is unknown (no leader
 * in time, a timeout, a node that stopped, an answer this version cannot read, a session the state
 * machine forgot) the answer is 5.0x with a diagnostic that says the write may or may not have been
 * applied, in the same words with or without the client's own session: a client must not blindly
 * resend it as a new request (with its own `?client=&seq=` it resends it as the same one).
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { encodeKvCommand } from '../kv/index.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import { InvariantError, RaftError } from '../../contracts/errors.js';
import { errorResponse, readAnswer, responseForError } from './responses.js';
import { IMPLICIT_CLIENT_PREFIX, requestIdOf } from './write-session.js';
import { integerArgument, queryArgument } from './documents.js';
import type { ImplicitSession, WriteTicket } from './write-session.js';
import { SlotQueue, WAITING_BYTES_MAX, WRITES_WAITING_PER_SLOT } from './write-slots.js';
import type { Clock } from '../../contracts/clock.js';

/** What the write path needs of the node. */
export interface WriteNode {
  getNodeId(): string;
  /**
   * Runs a write on the leader; `retryUnknown`: the command carries an identity, so retrying it after an unknown
   * outcome is safe; `what`: the write as error messages name it.
   */
  submitAnywhere(command: Uint8Array, timeoutMs: number, retryUnknown?: boolean, what?: string): Promise<Uint8Array>;
}

/** A write's end: the state machine's result, or the error response to send. */
export type WriteOutcome =
  | { readonly kind: 'result'; readonly result: KvResult }
  | { readonly kind: 'response'; readonly response: CoapResponse };

/** What an error message calls the write `command` (its outcome may be unknown). */
export function writeNameOf(command: KvCommand): string {
  switch (command.op) {
    case 'txn':
      return 'the transaction';
    case 'lease-grant':
      return 'the lease grant';
    case 'lease-revoke':
      return `the revoke of lease ${command.id}`;
    case 'lease-keepalive':
      return `the keepalive of lease ${command.id}`;
    default:
      return 'the write';
  }
}

const unknownText = (what: string): string => `${what} may or may not have been applied`;
/** What a refusal that is known to have run nothing says (the write was never proposed or sent). */
export const NOT_APPLIED = 'nothing was applied';

/**
 * The answer to an error `what` (a write) ended with: 5.xx says the outcome is unknown, unless it
 * is known that nothing ran.
 */
export function responseForWriteError(error: unknown, what = 'the write'): CoapResponse {
  const response = responseForError(error);
  if (response.code < CoapResponseCode.InternalServerError) return response;
  const text = new TextDecoder().decode(response.payload ?? new Uint8Array(0));
  if (text.includes('may or may not') || text.includes(NOT_APPLIED)) return response;
  // RAFT_BUSY refuses a write before it is proposed, or before it is forwarded: nothing ran.
  const refused = error instanceof RaftError && error.code === 'RAFT_BUSY';
  return errorResponse(response.code, `${text}; ${refused ? NOT_APPLIED : unknownText(what)}`, response.maxAge);
}

/** How the write path waits and what it refuses. */
export interface EndpointWritesOptions {
  /** How long one write may take, ms (the endpoint's requestTimeoutMs). */
  readonly timeoutMs: number;
  /** The refusal of an encoded command of `bytes` bytes (identity included) as too large, or null when it fits. */
  readonly oversize: (bytes: number) => CoapResponse | null;
  /** The clock of the waiting writes' deadlines (write-slots.ts). */
  readonly clock: Clock;
}

function busy(why: string): WriteOutcome {
  return {
    kind: 'response',
    response: errorResponse(CoapResponseCode.ServiceUnavailable, `${why}; ${NOT_APPLIED}, retry later`, 1),
  };
}

/** The endpoint's writes; see the module comment. */
export class EndpointWrites {
  /** Writes waiting for a slot of the session (write-slots.ts). */
  private readonly slots: SlotQueue<WriteTicket>;

  constructor(
    private readonly node: WriteNode,
    private readonly session: ImplicitSession,
    private readonly options: EndpointWritesOptions,
  ) {
    this.slots = new SlotQueue(() => session.begin(), options.clock, {
      waitingMax: WRITES_WAITING_PER_SLOT * session.slotCount,
      waitingBytesMax: WAITING_BYTES_MAX,
    });
  }

  /** Submits `command` (built from `request`) and returns its outcome. */
  async submit(command: KvCommand, request: CoapRequest): Promise<WriteOutcome> {
    // A conditional PUT or DELETE of /kv/{key} runs as a transaction (if-match.ts): to its client it is a write.
    const what = request.path[0] === 'kv' ? 'the write' : writeNameOf(command);
    if (command.session !== null) return this.submitExplicit(command, what);
    const deadlineMs = this.options.clock.nowMs() + this.options.timeoutMs;
    const acquired = this.slots.acquire(request.payload.byteLength, deadlineMs);
    const ticket = acquired instanceof Promise ? await acquired : acquired;
    if (ticket === null) {
      return busy(
        acquired instanceof Promise
          ? 'no write slot came free at this endpoint within the request timeout'
          : 'too many writes in flight and waiting at this endpoint',
      );
    }
    try {
      const identified = encodeKvCommand(command, {
        session: ticket.session,
        requestId: requestIdOf(this.node.getNodeId(), request),
      });
      const refusal = this.options.oversize(identified.byteLength);
      if (refusal !== null) return { kind: 'response', response: refusal };
      const timeoutMs = Math.max(1, deadlineMs - this.options.clock.nowMs());
      const result = readAnswer(await this.node.submitAnywhere(identified, timeoutMs, true, what));
      if (result.type !== 'error') return { kind: 'result', result };
      switch (result.code) {
        case 'KV_SESSION_EXPIRED':
          this.session.forgotten(ticket);
          return unknown(what, `the endpoint's session was forgotten by the state machine (${result.message})`);
        case 'KV_STALE_SEQUENCE':
          return unknown(what, `the state machine retired its sequence (${result.message})`);
        case 'KV_RESPONSE_NOT_RETAINED':
          return {
            kind: 'response',
            response: errorResponse(
              CoapResponseCode.ServiceUnavailable,
              `${what} was applied, but its result is no longer kept (${result.message})`,
            ),
          };
        default:
          return { kind: 'result', result };
      }
    } catch (error) {
      // A bug is not an outcome to report: let it stop the process (the CoAP server rethrows it).
      if (error instanceof InvariantError) throw error;
      return { kind: 'response', response: responseForWriteError(error, what) };
    } finally {
      this.session.finish(ticket);
      this.slots.released();
    }
  }

  private async submitExplicit(command: KvCommand, what: string): Promise<WriteOutcome> {
    const encoded = encodeKvCommand(command);
    const refusal = this.options.oversize(encoded.byteLength);
    if (refusal !== null) return { kind: 'response', response: refusal };
    try {
      return {
        kind: 'result',
        result: readAnswer(await this.node.submitAnywhere(encoded, this.options.timeoutMs, true, what)),
      };
    } catch (error) {
      if (error instanceof InvariantError) throw error;
      // The client's own session makes its retry safe, but the outcome is as unknown as any other write's.
      return { kind: 'response', response: responseForWriteError(error, what) };
    }
  }
}

/** The session of a request's `client` and `seq` query parameters (null: none), or the 4.00 answer. */
export function explicitSessionOf(request: CoapRequest): { clientId: string; seq: number } | null | CoapResponse {
  const clientId = queryArgument(request, 'client');
  const seqText = queryArgument(request, 'seq');
  if (clientId === null && seqText === null) return null;
  const seq = Number(seqText);
  if (clientId === null || clientId === '' || !Number.isSafeInteger(seq) || seq < 1) {
    return errorResponse(CoapResponseCode.BadRequest, 'client and seq go together: client=ID&seq=N with N >= 1');
  }
  if (clientId.startsWith(IMPLICIT_CLIENT_PREFIX)) {
    return errorResponse(
      CoapResponseCode.BadRequest,
      `client ids starting with '${IMPLICIT_CLIENT_PREFIX}' are reserved for the endpoint's own sessions`,
    );
  }
  return { clientId, seq };
}

/** The lease of a PUT's `lease` query parameter (0: none), or the 4.00 answer. */
export function leaseArgumentOf(request: CoapRequest): number | CoapResponse {
  const text = queryArgument(request, 'lease');
  if (text === null) return 0;
  const lease = integerArgument(text, 'lease', 1, Number.MAX_SAFE_INTEGER);
  return typeof lease === 'string' ? errorResponse(CoapResponseCode.BadRequest, `${lease} (a lease id)`) : lease;
}

/**
 * The lease field of a command (none for lease 0), to spread last into its literal. On Node 20,
 * `{ ...header, more }` costs about 0.5 us and, once optimized, gives every object a hidden class
 * of its own, where a spread that ends a literal costs tens of ns and shares one.
 */
export function leaseOf(lease: number): { readonly lease?: number } {
  return lease === 0 ? {} : { lease };
}

function unknown(what: string, reason: string): WriteOutcome {
  const text = `${unknownText(what)}: ${reason}`;
  return { kind: 'response', response: errorResponse(CoapResponseCode.ServiceUnavailable, text, 1) };
}
