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
import type { Timers } from '../../contracts/clock.js';
import { InvariantError, describeError } from '../../contracts/errors.js';
import type { Metrics } from '../../contracts/metrics.js';
import { assert } from '../../contracts/assert.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import { CoapResponseCode, CoapType, codeClassOf } from './codes.js';
import { resolveCoapServerOptions, type CoapServerOptions } from './config.js';
import { PendingConfirmables, type ConfirmableOutcome } from './confirmables.js';
import { DuplicateCache } from './duplicate-cache.js';
import { decodeMessage, encodeMessage, type CoapMessage, type CoapOptionValue } from './message.js';
import {
  diagnosticResponse,
  parseRequest,
  type CoapRequest,
  type CoapResponse,
  type RequestBlockFields,
} from './request.js';
import { responseOptions } from './response-options.js';
import { ResourceRouter, type CoapResourceHandler, type CoapResourceMethods } from './router.js';
import { ServerBlockwise, transferKeyOf, type Answer } from './server-blockwise.js';

/** What a CoAP server is given. */
export interface CoapServerDeps {
  /** Opens the endpoint to listen on; `start` calls it, `stop` closes what it returned. */
  readonly openEndpoint: () => Promise<DatagramEndpoint>;
  /** The clock of lifetimes, and the timers of expiry sweeps and notification retransmissions. */
  readonly timers: Timers;
  /**
   * Counts every refusal by a limit (`coap_limit_refusals_total`, dimensions `server` and
   * `limit`: the option's name) and every confirmable notification's outcome
   * (`coap_notifications_total`, dimensions `server` and `outcome`). Default: none (the
   * counters in `stats` only).
   */
  readonly metrics?: Metrics;
  /** The `server` dimension of the metrics, e.g. "endpoint" or "peer". Default "coap". */
  readonly name?: string;
}

/** A notification sent by {@link CoapServer.notify}. */
export interface Notification {
  readonly messageId: number;
  /** False also when a confirmable one was asked for but notificationsPendingMax was reached. */
  readonly confirmable: boolean;
  /** 'sent' for a non-confirmable notification; how a confirmable one ended otherwise. */
  readonly outcome: Promise<ConfirmableOutcome | 'sent'>;
}

/** What the block-wise stores and the notification table hold. */
export interface CoapServerBlockStats {
  readonly block1Transfers: number;
  /** Counted against blockBytesTotalMax. */
  readonly block1HeldBytes: number;
  /** The byteLength of the ArrayBuffers the transfers keep alive (equals block1HeldBytes). */
  readonly block1BufferBytes: number;
  readonly block2Bodies: number;
  readonly block2HeldBytes: number;
  readonly notificationsPending: number;
}

/** Counters of a server, since it was built. */
export interface CoapServerStats {
  requests: number;
  duplicates: number;
  malformed: number;
  /** Requests refused with 5.03 because `requestsInFlightMax` was reached. */
  busy: number;
  /** Response datagrams the endpoint failed to send. */
  sendFailures: number;
  /** Refusals by a limit, by the option's name (blockBytesTotalMax, block1BytesMin, ...). */
  readonly limitRefusals: Record<string, number>;
}

/** How one request message is answered. */
interface Exchange {
  readonly peer: DatagramPeer;
  readonly peerKey: string;
  readonly messageId: number;
  readonly token: Uint8Array;
  readonly confirmable: boolean;
}

/** The payload of responses without one (never written to: encodeMessage only reads it). */
const EMPTY_PAYLOAD = new Uint8Array(0);

/** `options` (a fresh array responseOptions made) with `extra` appended, without another copy. */
function withExtra(options: CoapOptionValue[], extra: readonly CoapOptionValue[]): CoapOptionValue[] {
  for (const o of extra) options.push(o);
  return options;
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
  private nextMessageId = 0;
  private resetListener: ((peer: DatagramPeer, messageId: number) => void) | null = null;

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
    this.blockwise = new ServerBlockwise(o, deps.timers, (limit) => this.countLimit(limit));
    const pending = {
      ackTimeoutMs: o.notifyAckTimeoutMs,
      retransmitMax: o.notifyRetransmitMax,
      pendingMax: o.notificationsPendingMax,
    };
    this.confirmables = new PendingConfirmables(pending, deps.timers, (bytes, peer) => this.transmit(bytes, peer));
  }

  /** Adds a resource; see ResourceRouter.add. */
  addResource(path: string, methods: CoapResourceMethods): void {
    this.router.add(path, methods);
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
    await endpoint.close();
  }

  isRunning(): boolean {
    return this.endpoint !== null;
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
    const message: CoapMessage = {
      type: CoapType.CON,
      code: response.code,
      messageId,
      token,
      options: responseOptions(response),
      payload: response.payload ?? new Uint8Array(0),
    };
    if (confirmable) {
      const outcome = this.confirmables.send(peerKeyOf(peer), peer, messageId, encodeMessage(message));
      if (outcome !== null)
        return { messageId, confirmable: true, outcome: outcome.then((end) => this.countNotification(end)) };
      this.countLimit('notificationsPendingMax');
    }
    await endpoint.send(encodeMessage({ ...message, type: CoapType.NON }), peer.address, peer.port);
    return { messageId, confirmable: false, outcome: Promise.resolve('sent') };
  }

  /** Sets the listener of RST messages to non-confirmable notifications (RFC 7641 §3.6: "cancel my observation"). */
  onReset(listener: (peer: DatagramPeer, messageId: number) => void): void {
    this.resetListener = listener;
  }

  private onDatagram(data: Uint8Array, peer: DatagramPeer): void {
    const decoded = decodeMessage(data);
    if (!decoded.ok) {
      this.stats.malformed += 1;
      // RFC 7252 §4.2: a malformed confirmable message is rejected with RST.
      if (decoded.header?.type === CoapType.CON) this.sendReset(decoded.header.messageId, peer);
      return;
    }
    const message = decoded.message;
    if (codeClassOf(message.code) === 0 && message.code !== 0 && message.type <= CoapType.NON) {
      this.onRequest(message, peer);
      return;
    }
    if (message.code === 0 && message.type === CoapType.ACK)
      return void this.confirmables.onAck(peerKeyOf(peer), message.messageId);
    if (message.code === 0 && message.type === CoapType.RST) {
      if (this.confirmables.onReset(peerKeyOf(peer), message.messageId)) return;
      return this.resetListener?.(peer, message.messageId);
    }
    // A ping (empty CON), or a response or reserved code this server did not ask for.
    if (message.type === CoapType.CON) this.sendReset(message.messageId, peer);
  }

  private onRequest(message: CoapMessage, peer: DatagramPeer): void {
    const peerKey = peerKeyOf(peer);
    const exchange: Exchange = {
      peer,
      peerKey,
      messageId: message.messageId,
      token: message.token,
      confirmable: message.type === CoapType.CON,
    };
    if (exchange.confirmable) {
      const status = this.duplicates.check(peerKey, message.messageId, message.token);
      if (status.kind !== 'new') {
        this.stats.duplicates += 1;
        if (status.kind === 'answered') this.transmit(status.response, peer);
        return;
      }
    }
    this.stats.requests += 1;
    const parsed = parseRequest(message, peer);
    if (!parsed.ok) return this.respond(exchange, parsed.response, []);
    const { request, block } = parsed;
    const route = this.router.lookup(request.method, request.path);
    if (route.kind === 'no-resource')
      return this.respond(exchange, diagnosticResponse(CoapResponseCode.NotFound, 'no such resource'), []);
    if (route.kind === 'no-method')
      return this.respond(exchange, diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'method not allowed'), []);
    const blockwise = block.block1 !== null || block.qblock1 !== null || block.piece1 !== null || block.block2 !== null;
    // Only block-wise requests need their transfer key; building it costs a few strings.
    const transferKey = blockwise ? transferKeyOf(peerKey, request, block) : '';
    if (block.block2 !== null && block.block2.num > 0 && block.block1 === null) {
      const answer = this.blockwise.storedBlock(request, block.block2, transferKey);
      if (answer !== null) return this.answer(exchange, answer);
    }
    const outcome = this.blockwise.requestBody(peerKey, request, block, transferKey);
    if (outcome.kind === 'answer') return this.answer(exchange, outcome.answer);
    // A non-confirmable Q-Block1 block within a set is not answered (RFC 9177 §4.4).
    if (outcome.kind === 'none') return assert(!exchange.confirmable, 'a confirmable request is answered');
    const body = outcome.body;
    if (this.inFlight >= this.options.requestsInFlightMax) {
      this.stats.busy += 1;
      this.countLimit('requestsInFlightMax');
      return this.respond(
        exchange,
        diagnosticResponse(CoapResponseCode.ServiceUnavailable, 'too many requests in progress'),
        [],
      );
    }
    void this.runHandler(
      exchange,
      route.handler,
      body === request.payload ? request : { ...request, payload: body },
      block,
      transferKey,
    );
  }

  private async runHandler(
    exchange: Exchange,
    handler: CoapResourceHandler,
    request: CoapRequest,
    block: RequestBlockFields,
    transferKey: string,
  ): Promise<void> {
    const generation = this.generation;
    this.inFlight += 1;
    let response: CoapResponse;
    try {
      response = await handler(request);
    } catch (error: unknown) {
      // A bug is not an operating condition: let it stop the process.
      if (error instanceof InvariantError) throw error;
      response = diagnosticResponse(CoapResponseCode.InternalServerError, `handler failed: ${describeError(error)}`);
    } finally {
      this.inFlight -= 1;
    }
    assert(this.inFlight >= 0, 'in-flight request count never negative');
    if (generation !== this.generation) return;
    const key = transferKey === '' ? transferKeyOf(exchange.peerKey, request, block) : transferKey;
    this.answer(exchange, this.blockwise.responseAnswer(exchange.peerKey, block, key, response));
  }

  private answer(exchange: Exchange, answer: Answer): void {
    this.respond(exchange, answer.response, answer.extra);
  }

  private respond(exchange: Exchange, response: CoapResponse, extra: readonly CoapOptionValue[]): void {
    const bytes = encodeMessage(this.buildResponse(exchange, response, extra));
    if (exchange.confirmable) this.duplicates.answer(exchange.peerKey, exchange.messageId, exchange.token, bytes);
    this.transmit(bytes, exchange.peer);
  }

  /** A piggybacked ACK for a confirmable request, else a NON with a fresh message id. */
  private buildResponse(exchange: Exchange, response: CoapResponse, extra: readonly CoapOptionValue[]): CoapMessage {
    return {
      type: exchange.confirmable ? CoapType.ACK : CoapType.NON,
      code: response.code,
      messageId: exchange.confirmable ? exchange.messageId : this.allocateMessageId(),
      token: exchange.token,
      options: withExtra(responseOptions(response), extra),
      payload: response.payload ?? EMPTY_PAYLOAD,
    };
  }

  private sendReset(messageId: number, peer: DatagramPeer): void {
    const empty = new Uint8Array(0);
    this.transmit(
      encodeMessage({ type: CoapType.RST, code: 0, messageId, token: empty, options: [], payload: empty }),
      peer,
    );
  }

  private transmit(bytes: Uint8Array, peer: DatagramPeer): void {
    const endpoint = this.endpoint;
    if (endpoint === null) return;
    // A lost response is recovered by the client's retransmission, answered from the cache.
    endpoint.send(bytes, peer.address, peer.port).catch(this.countSendFailure);
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

/** Identifies a peer: address, port and authenticated identity. */
function peerKeyOf(peer: DatagramPeer): string {
  return `${peer.address}|${peer.port}|${peer.identity ?? ''}`;
}
