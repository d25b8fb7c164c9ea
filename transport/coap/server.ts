/**
 * A CoAP server (RFC 7252) over any DatagramEndpoint: resources by path and method,
 * piggybacked responses, duplicate detection with cached responses, strict rejection of
 * malformed messages, and block-wise request and response bodies (RFC 7959, with RFC 9175
 * Request-Tag so that one client can run many transfers to one resource at once).
 *
 * It serves the peer RPC resources and the agent's local endpoint: handlers see the method,
 * path, query, Accept, ETag, If-Match and If-None-Match, and `notify` sends Observe (RFC 7641)
 * notifications, confirmable ones retransmitted until acknowledged (confirmables.ts). Every
 * buffer has a limit (config.ts); a refusal by one is counted by the option's name, in `stats`
 * and in the metrics.
 */
import { InvariantError, describeError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import { CoapResponseCode, CoapType, codeClassOf } from './codes.js';
import { resolveCoapServerOptions, type CoapServerOptions } from './config.js';
import { PendingConfirmables, type ConfirmableOutcome } from './confirmables.js';
import { DelayedAcks } from './delayed-acks.js';
import { DuplicateCache } from './duplicate-cache.js';
import { encodeMessage, type CoapOptionValue } from './message.js';
import { MessageReader } from './message-reader.js';
import { busyResponse, diagnosticResponse, type CoapResponse, type RequestBlockFields } from './request.js';
import { ReceivedRequest, RequestParser } from './request-parser.js';
import { PeerKeys } from './peer-keys.js';
import { encodeResponse } from './response-encoder.js';
import { ResourceRouter, type CoapBodyChecks, type CoapResourceHandler, type CoapResourceMethods } from './router.js';
import { firstBlockOf, ServerBlockwise, transferKeyOf, type Answer } from './server-blockwise.js';
import type { CoapServerBlockStats, CoapServerDeps, CoapServerStats, Exchange, Notification } from './server-types.js';
import { TOKEN_IN_PROGRESS_RESPONSE, TokensInProgress } from './tokens-in-progress.js';

export type { CoapServerBlockStats, CoapServerDeps, CoapServerStats, Notification } from './server-types.js';

/** Most peer keys cached (peer-keys.ts): a few hundred kilobytes at most. */
const PEER_KEYS_MAX = 4096;

/** The token and payload of an RST (never written to: the encoder only reads them). */
const EMPTY = new Uint8Array(0);
/** The extra options of a response that has none. */
const NO_OPTIONS: readonly CoapOptionValue[] = Object.freeze([]);

/** An empty message (an ACK or an RST) answering message `messageId`. */
function emptyMessage(type: CoapType, messageId: number): Uint8Array {
  return encodeMessage({ type, code: 0, messageId, token: EMPTY, options: NO_OPTIONS, payload: EMPTY });
}

/** A CoAP server; see the module comment. */
export class CoapServer {
  readonly stats: CoapServerStats = {
    requests: 0,
    duplicates: 0,
    malformed: 0,
    busy: 0,
    sendFailures: 0,
    limitRefusals: {},
  };
  private readonly options: CoapServerOptions;
  private readonly router = new ResourceRouter();
  private readonly duplicates: DuplicateCache;
  private readonly blockwise: ServerBlockwise;
  private readonly confirmables: PendingConfirmables;
  private endpoint: DatagramEndpoint | null = null;
  /** Bumped by `stop`, so that answers of handlers started before it are dropped. */
  private generation = 0;
  private inFlight = 0;
  /** Requests whose body came in several messages, acknowledged if their handler takes long (separateBodyResponses). */
  private readonly delayedAcks: DelayedAcks<Exchange>;
  private nextMessageId = 0;
  private resetListener: ((peer: DatagramPeer, messageId: number) => void) | null = null;
  /**
   * Scratch of the receive path, reused for every datagram: nothing reads them after the
   * datagram's request is parsed, so a datagram delivered while a handler runs cannot disturb one.
   */
  private readonly reader = new MessageReader();
  private readonly parser = new RequestParser();
  private readonly peerKeys = new PeerKeys(PEER_KEYS_MAX);
  /** The tokens of the confirmable requests whose handlers run (tokens-in-progress.ts). */
  private readonly tokens = new TokensInProgress();

  constructor(
    private readonly deps: CoapServerDeps,
    options: Partial<CoapServerOptions> = {},
  ) {
    this.options = resolveCoapServerOptions(options);
    const o = this.options;
    this.duplicates = new DuplicateCache(
      {
        entriesMax: o.duplicateCacheEntriesMax,
        lifetimeMs: o.duplicateCacheLifetimeMs,
        bytesMax: o.duplicateCacheBytesMax,
      },
      deps.timers,
    );
    const server = { server: deps.name ?? 'coap' };
    const countEviction = (): void => deps.metrics?.increment('coap_block_transfers_evicted_total', 1, server);
    this.blockwise = new ServerBlockwise(o, deps.timers, (limit) => this.countLimit(limit), countEviction);
    const pending = {
      ackTimeoutMs: o.notifyAckTimeoutMs,
      retransmitMax: o.notifyRetransmitMax,
      pendingMax: o.notificationsPendingMax,
    };
    this.confirmables = new PendingConfirmables(pending, deps.timers, (bytes, peer) => this.transmit(bytes, peer));
    this.delayedAcks = new DelayedAcks(deps.timers, (exchange) => this.acknowledge(exchange));
  }

  /** Adds a resource; see ResourceRouter.add. */
  addResource(path: string, methods: CoapResourceMethods, bodyChecks: CoapBodyChecks = {}): void {
    this.router.add(path, methods, bodyChecks);
  }

  /** Opens the endpoint and starts answering. */
  async start(): Promise<void> {
    if (this.endpoint !== null) return;
    const endpoint = await this.deps.openEndpoint();
    this.endpoint = endpoint;
    endpoint.onMessage((data, peer) => this.onDatagram(data, peer));
  }

  /** Stops answering and closes the endpoint; in-flight handlers' answers are dropped. */
  async stop(): Promise<void> {
    const endpoint = this.endpoint;
    if (endpoint === null) return;
    this.endpoint = null;
    this.generation += 1;
    this.duplicates.clear();
    this.blockwise.clear();
    this.confirmables.clear();
    this.delayedAcks.clear();
    await endpoint.close();
  }

  isRunning(): boolean {
    return this.endpoint !== null;
  }

  /** Resolves once no handler runs (each answer sent), or after `timeoutMs`: so that stop drops no decided answer. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = this.deps.timers.nowMs() + timeoutMs;
    while (this.inFlight > 0 && this.endpoint !== null && this.deps.timers.nowMs() < deadline)
      await new Promise<void>((resolve) => this.deps.timers.setTimer(10, resolve));
  }

  /** The bound address; the server must be running. */
  localAddress(): { readonly address: string; readonly port: number } {
    assert(this.endpoint !== null, 'localAddress of a running server');
    return this.endpoint.localAddress();
  }

  /** What the block-wise stores and the notification table hold now. */
  blockStats(): CoapServerBlockStats {
    return { ...this.blockwise.stats(), notificationsPending: this.confirmables.size };
  }

  /**
   * Sends a response outside a request/response exchange: an Observe notification (RFC 7641
   * §4.2), which a resource sends with the token of the registering request. Resolves once a
   * non-confirmable one is handed to the endpoint, or once a confirmable one is sent the first
   * time; its `outcome` then tells whether the client acknowledged it, reset it, or never
   * answered (RFC 7252 §4.2 retransmission, notifyAckTimeoutMs and notifyRetransmitMax).
   * An RST to a non-confirmable notification reaches the listener set by `onReset`.
   */
  async notify(
    peer: DatagramPeer,
    token: Uint8Array,
    response: CoapResponse,
    confirmable = false,
  ): Promise<Notification> {
    const endpoint = this.endpoint;
    assert(endpoint !== null, 'notify on a running server');
    const messageId = this.allocateMessageId();
    if (confirmable) {
      const bytes = encodeResponse(CoapType.CON, messageId, token, response, NO_OPTIONS);
      const outcome = this.confirmables.send(this.peerKeys.keyOf(peer), peer, messageId, bytes);
      if (outcome !== null)
        return { messageId, confirmable: true, outcome: outcome.then((end) => this.countNotification(end)) };
      this.countLimit('notificationsPendingMax');
    }
    await endpoint.send(encodeResponse(CoapType.NON, messageId, token, response, NO_OPTIONS), peer.address, peer.port);
    return { messageId, confirmable: false, outcome: Promise.resolve('sent') };
  }

  /**
   * `response` cut to its first Block2 block of `blockBytes` when its body is larger, for a
   * notification of a resource that a client can GET block by block (firstBlockOf, RFC 7959 §2.6).
   */
  firstBlockOf(response: CoapResponse): CoapResponse {
    return firstBlockOf(response, this.options.blockBytes);
  }

  /** Sets the listener of RST messages to non-confirmable notifications (RFC 7641 §3.6: "cancel my observation"). */
  onReset(listener: (peer: DatagramPeer, messageId: number) => void): void {
    this.resetListener = listener;
  }

  private onDatagram(data: Uint8Array, peer: DatagramPeer): void {
    const reader = this.reader;
    if (!reader.read(data)) {
      this.stats.malformed += 1;
      // RFC 7252 §4.2: a malformed confirmable message is rejected with RST.
      if (reader.headerReadable && reader.type === CoapType.CON) this.sendReset(reader.messageId, peer);
      return;
    }
    const { code, type, messageId } = reader;
    if (codeClassOf(code) === 0 && code !== 0 && type <= CoapType.NON) {
      this.onRequest(reader, peer);
      return;
    }
    if (code === 0 && type === CoapType.ACK) return void this.confirmables.onAck(this.peerKeys.keyOf(peer), messageId);
    if (code === 0 && type === CoapType.RST) {
      if (this.confirmables.onReset(this.peerKeys.keyOf(peer), messageId)) return;
      return this.resetListener?.(peer, messageId);
    }
    // A ping (empty CON), or a response or reserved code this server did not ask for.
    if (type === CoapType.CON) this.sendReset(messageId, peer);
  }

  /** A request `reader` has just read; the reader is not used once its request is parsed. */
  private onRequest(reader: MessageReader, peer: DatagramPeer): void {
    const peerKey = this.peerKeys.keyOf(peer);
    const token = reader.token();
    const confirmable = reader.type === CoapType.CON;
    if (confirmable) {
      const status = this.duplicates.check(peerKey, reader.messageId, token);
      if (status.kind !== 'new') {
        this.stats.duplicates += 1;
        if (status.kind === 'answered') this.transmit(status.response, peer);
        return;
      }
    }
    this.stats.requests += 1;
    const request = this.parser.parse(reader, peer, peerKey, token);
    if (!(request instanceof ReceivedRequest)) {
      const exchange: Exchange = { peer, peerKey, messageId: reader.messageId, token, confirmable };
      return this.respond(exchange, request, NO_OPTIONS);
    }
    // The request is its own exchange (it has the peer, its key, the message id and the token).
    const block = this.parser.block;
    const route = this.router.lookup(request.method, request.path);
    if (route.kind === 'no-resource')
      return this.respond(request, diagnosticResponse(CoapResponseCode.NotFound, 'no such resource'), NO_OPTIONS);
    if (route.kind === 'no-method') {
      const response = diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'method not allowed');
      return this.respond(request, response, NO_OPTIONS);
    }
    // Access first: a request that may not use the resource learns that, not which limit it passed.
    const refused = route.admission?.(request) ?? null;
    if (refused !== null) return this.respond(request, refused, NO_OPTIONS);
    const blockwise = block.block1 !== null || block.qblock1 !== null || block.piece1 !== null || block.block2 !== null;
    // Only block-wise requests need their transfer key; building it costs a few strings.
    const transferKey = blockwise ? transferKeyOf(peerKey, request, block) : '';
    if (block.block2 !== null && block.block2.num > 0 && block.block1 === null) {
      const answer = this.blockwise.storedBlock(request, block.block2, transferKey);
      if (answer !== null) return this.answer(request, answer);
    }
    if (route.bodyCheck !== null && blockwise) {
      const refusal = this.blockwise.bodyRefusal(route.bodyCheck, request, block, transferKey);
      if (refusal !== null) return this.answer(request, refusal);
    }
    const outcome = this.blockwise.requestBody(peerKey, request, block, transferKey);
    if (outcome.kind === 'answer') return this.answer(request, outcome.answer);
    // A non-confirmable Q-Block1 block within a set is not answered (RFC 9177 §4.4).
    if (outcome.kind === 'none') return assert(!confirmable, 'a confirmable request is answered');
    if (this.inFlight >= this.options.requestsInFlightMax) {
      this.stats.busy += 1;
      this.countLimit('requestsInFlightMax');
      const response = busyResponse('too many requests in progress; this one did not run, retry later');
      return this.respond(request, response, NO_OPTIONS);
    }
    // Two requests in progress with one token: a client could take either answer for the other's.
    if (confirmable && !this.tokens.begin(peerKey, token)) {
      this.countLimit('tokenInProgress');
      return this.respond(request, TOKEN_IN_PROGRESS_RESPONSE, NO_OPTIONS);
    }
    const whole = outcome.kind === 'payload' ? request : request.withPayload(outcome.body);
    // A body that came in several messages: acknowledged if not answered soon (separateBodyResponses).
    if (confirmable && outcome.kind !== 'payload' && this.options.separateBodyResponses) this.delayedAcks.watch(whole);
    void this.runHandler(route.handler, whole, block, transferKey);
  }

  /**
   * Runs the handler of `request`, which is also the exchange to answer. A `then` on the
   * handler's promise, not an async function: the same one microtask after it settles, with
   * half the objects per request (an async function's frame and its await's closures).
   */
  private runHandler(
    handler: CoapResourceHandler,
    request: ReceivedRequest,
    block: RequestBlockFields,
    transferKey: string,
  ): void {
    const generation = this.generation;
    this.inFlight += 1;
    let handled: Promise<CoapResponse>;
    try {
      handled = Promise.resolve(handler(request));
    } catch (error: unknown) {
      // A handler that throws before returning its promise fails as one whose promise rejects (answered at once).
      return this.finish(request, block, transferKey, generation, this.failure(error));
    }
    // A rejection of the `then` (a bug: InvariantError, or a failed assertion) stops the process.
    void handled.then(
      (response) => this.finish(request, block, transferKey, generation, response),
      (error: unknown) => this.finish(request, block, transferKey, generation, this.failure(error)),
    );
  }

  /** Answers `request` with its handler's response, unless the server stopped meanwhile. */
  private finish(
    request: ReceivedRequest,
    block: RequestBlockFields,
    transferKey: string,
    generation: number,
    response: CoapResponse,
  ): void {
    this.inFlight -= 1;
    assert(this.inFlight >= 0, 'in-flight request count never negative');
    if (request.confirmable) this.tokens.end(request.peerKey, request.token);
    if (generation !== this.generation) return;
    // Most answers go whole: the transfer key (a few strings) is built only for those that do not.
    if (this.blockwise.goesWhole(block, response)) return this.respond(request, response, NO_OPTIONS);
    const key = transferKey === '' ? transferKeyOf(request.peerKey, request, block) : transferKey;
    this.answer(request, this.blockwise.responseAnswer(request.peerKey, block, key, response));
  }

  /** The 5.00 answer to a handler that failed; a bug (InvariantError) is thrown again, to stop the process. */
  private failure(error: unknown): CoapResponse {
    if (error instanceof InvariantError) {
      this.inFlight -= 1;
      throw error;
    }
    return diagnosticResponse(CoapResponseCode.InternalServerError, `handler failed: ${describeError(error)}`);
  }

  private answer(exchange: Exchange, answer: Answer): void {
    this.respond(exchange, answer.response, answer.extra);
  }

  /** Sends the empty ACK of a confirmable request now (its response goes separately); so do its retransmissions. */
  private acknowledge(exchange: Exchange): void {
    const bytes = emptyMessage(CoapType.ACK, exchange.messageId);
    this.duplicates.answer(exchange.peerKey, exchange.messageId, exchange.token, bytes);
    this.transmit(bytes, exchange.peer);
  }

  /**
   * Sends a piggybacked ACK for a confirmable request, else a NON with a fresh message id; a
   * confirmable request acknowledged already gets a separate CON, retransmitted until the client
   * acknowledges it (or a NON, when notificationsPendingMax messages wait for an ACK already).
   */
  private respond(exchange: Exchange, response: CoapResponse, extra: readonly CoapOptionValue[]): void {
    if (!this.delayedAcks.isEmpty && this.delayedAcks.answered(exchange)) {
      const messageId = this.allocateMessageId();
      const bytes = encodeResponse(CoapType.CON, messageId, exchange.token, response, extra);
      if (this.confirmables.send(exchange.peerKey, exchange.peer, messageId, bytes) !== null) return;
      this.countLimit('notificationsPendingMax');
      return this.transmit(encodeResponse(CoapType.NON, messageId, exchange.token, response, extra), exchange.peer);
    }
    const confirmable = exchange.confirmable;
    const type = confirmable ? CoapType.ACK : CoapType.NON;
    const messageId = confirmable ? exchange.messageId : this.allocateMessageId();
    const bytes = encodeResponse(type, messageId, exchange.token, response, extra);
    if (confirmable) this.duplicates.answer(exchange.peerKey, exchange.messageId, exchange.token, bytes);
    this.transmit(bytes, exchange.peer);
  }

  private sendReset(messageId: number, peer: DatagramPeer): void {
    this.transmit(emptyMessage(CoapType.RST, messageId), peer);
  }

  private transmit(bytes: Uint8Array, peer: DatagramPeer): void {
    const endpoint = this.endpoint;
    if (endpoint === null) return;
    // A lost response is recovered by the client's retransmission, answered from the cache.
    if (endpoint.post !== undefined) endpoint.post(bytes, peer.address, peer.port, this.countSendFailure);
    else endpoint.send(bytes, peer.address, peer.port).catch(this.countSendFailure);
  }

  /** One handler for every response's failed send (made once: transmit runs for every answer). */
  private readonly countSendFailure = (): void => {
    this.stats.sendFailures += 1;
  };

  /** Counts a refusal by the limit named `limit` (an option name). */
  private countLimit(limit: string): void {
    this.stats.limitRefusals[limit] = (this.stats.limitRefusals[limit] ?? 0) + 1;
    this.deps.metrics?.increment('coap_limit_refusals_total', 1, { server: this.deps.name ?? 'coap', limit });
  }

  private countNotification(outcome: ConfirmableOutcome): ConfirmableOutcome {
    this.deps.metrics?.increment('coap_notifications_total', 1, { server: this.deps.name ?? 'coap', outcome });
    return outcome;
  }

  private allocateMessageId(): number {
    this.nextMessageId = (this.nextMessageId + 1) & 0xffff;
    return this.nextMessageId;
  }
}
