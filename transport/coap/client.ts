/**
 * A CoAP client (RFC 7252) over any DatagramEndpoint, built for Raft's traffic: many
 * confirmable requests outstanding to one peer at once (matched by token, and by message id
 * for empty ACKs and RSTs), each bounded by its caller's deadline rather than by CoAP's
 * 247 s exchange lifetime, retransmitted with exponential back-off within that deadline, and
 * bodies of any size up to a bound through Block1/Block2 (RFC 7959). Why our own layer rather
 * than the `coap` package: transport/coap/index.ts.
 */
import { withoutKey } from '../../contracts/young-map.js';
import type { Timers } from '../../contracts/clock.js';
import { NetworkError } from '../../contracts/errors.js';
import type { Prng } from '../../contracts/prng.js';
import { assert } from '../../contracts/assert.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import {
  ClientExchange,
  asNetworkError,
  type CoapClientRequest,
  type CoapClientResponse,
  type CoapClientStats,
  type CoapTarget,
  type ExchangeSettler,
  type ExchangeStep,
} from './client-exchange.js';
import { CoapType, codeClassOf } from './codes.js';
import { resolveCoapClientOptions, type CoapClientOptions } from './config.js';
import { sameBytes } from './duplicate-cache.js';
import { decodeMessage, encodeMessage } from './message.js';
import { bytesOf, sendOutgoing, type OutgoingMessage } from './outgoing.js';
import { MessageReader, OptionCursor } from './message-reader.js';
import { matchedExchange, readWholeResponse } from './client-response.js';
import { closeWhenOpen, requestRefusal, tokenIdOf, tokenOf } from './client-types.js';
import { cachedUriPathOption, szxOf } from './options.js';
import { QBlock1Servers } from './client-qblock.js';
import { RetransmissionTimeouts } from './retransmission.js';
import {
  ClientObservations,
  type CoapObservation,
  type NotificationListener,
  type ObservationHandle,
} from './client-observations.js';

/** What a CoAP client is given. */
export interface CoapClientDeps {
  /** Opens the endpoint to send from; called once, on the first request. */
  readonly openEndpoint: () => Promise<DatagramEndpoint>;
  readonly timers: Timers;
  /** Tokens and retransmission jitter. */
  readonly prng: Prng;
  /** False: every datagram is decoded the general way (for the tests of client-response.ts). Default true. */
  readonly readDirect?: boolean;
}

export { OUTSTANDING_TOTAL_MAX } from './client-types.js';

const EMPTY = new Uint8Array(0);
/** Most cached Uri-Path encodings. */
const SEGMENT_CACHE_MAX = 256;

/** A CoAP client; see the module comment. */
export class CoapClient {
  readonly stats: CoapClientStats = {
    requests: 0,
    retransmissions: 0,
    timeouts: 0,
    refusedOutstanding: 0,
    ignored: 0,
    sendFailures: 0,
  };
  private readonly options: CoapClientOptions;
  private readonly timeouts: RetransmissionTimeouts;
  private readonly szx: number;
  private byToken = new Map<number, ClientExchange>();
  private byMessageId = new Map<number, ClientExchange>();
  private outstanding = new Map<string, number>();
  private readonly observations = new ClientObservations();
  private readonly qblock1Servers = new QBlock1Servers();
  private readonly pieceServers = new QBlock1Servers();
  private endpoint: Promise<DatagramEndpoint> | null = null;
  /** The endpoint once open: sends skip the promise hop. */
  private openedEndpoint: DatagramEndpoint | null = null;
  private closed = false;
  private nextTokenId: number;
  private nextMessageId: number;
  /** Encoded Uri-Path options by segment: RPC paths repeat. */
  private readonly uriPath = cachedUriPathOption(SEGMENT_CACHE_MAX);
  /** Read every datagram (onDatagram); reused, so a whole response costs no option objects. */
  private readonly reader = new MessageReader();
  private readonly cursor = new OptionCursor();
  private readonly readDirect: boolean;

  constructor(
    private readonly deps: CoapClientDeps,
    options: Partial<CoapClientOptions> = {},
  ) {
    this.options = resolveCoapClientOptions(options);
    this.timeouts = new RetransmissionTimeouts(this.options, deps.prng);
    this.szx = szxOf(this.options.blockBytes);
    this.nextTokenId = deps.prng.nextUint32();
    this.nextMessageId = deps.prng.nextUint32() & 0xffff; // RFC 7252 §4.4: a random first message id
    this.readDirect = deps.readDirect ?? true;
  }

  /** The largest request body sent whole, in one message (CoapClientOptions.wholeBodyBytesMax). */
  get wholeBodyBytesMax(): number {
    return this.options.wholeBodyBytesMax;
  }

  /** Requests outstanding to all peers. */
  get outstandingCount(): number {
    return this.byToken.size;
  }

  /** Sends `request` to `target` and resolves with the complete response, or rejects with NetworkError. */
  request(
    target: CoapTarget,
    request: CoapClientRequest,
    timeoutMs: number,
    observer: ObservationHandle | null = null,
  ): Promise<CoapClientResponse> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, 'request timeout is a positive number of ms');
    const deadlineMs = this.deps.timers.nowMs() + timeoutMs;
    if (this.closed) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'coap client is closed'));
    const body = request.payload ?? new Uint8Array(0);
    const peerKey = `${target.address}|${target.port}`;
    const count = this.outstanding.get(peerKey) ?? 0;
    const bodyBytes = body.length + bytesOf(request.payloadParts ?? []);
    const refusal = requestRefusal(bodyBytes, count, this.byToken.size, this.options, target);
    if (refusal !== null) {
      if (refusal.code === 'NET_BUSY') this.stats.refusedOutstanding += 1;
      return Promise.reject(refusal);
    }
    this.outstanding.set(peerKey, count + 1);
    this.stats.requests += 1;
    const exchange = this.newExchange(target, peerKey, deadlineMs, request, body);
    if (observer !== null) this.observations.sent(observer, exchange.tokenId, exchange.token);
    return new Promise<CoapClientResponse>((resolve, reject) => {
      exchange.settle = { resolve, reject };
      this.transmitNext(exchange);
    });
  }

  /** Registers an observation (RFC 7641, client-observations.ts); `listener` takes its notifications. */
  async observe(
    target: CoapTarget,
    request: CoapClientRequest,
    timeoutMs: number,
    listener: NotificationListener,
  ): Promise<CoapObservation> {
    const handle = this.observations.newHandle(target, listener);
    const response = await this.request(target, this.observations.registration(request), timeoutMs, handle);
    return this.observations.observation(handle, response);
  }

  /** Rejects every outstanding request and closes the endpoint. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.observations.clear();
    for (const exchange of [...this.byToken.values()])
      this.fail(exchange, new NetworkError('NET_UNREACHABLE', 'coap client closed'));
    const opening = this.endpoint;
    this.endpoint = null;
    this.openedEndpoint = null;
    if (opening !== null) await closeWhenOpen(opening);
  }

  private newExchange(
    target: CoapTarget,
    peerKey: string,
    deadlineMs: number,
    request: CoapClientRequest,
    body: Uint8Array,
  ): ClientExchange {
    // Tokens: a 32-bit request counter (the lookup key) and 32 random bits, unguessable off-path (RFC 7252 §5.3.1).
    let tokenId = this.nextTokenId >>> 0;
    while (this.byToken.has(tokenId)) tokenId = (tokenId + 1) >>> 0;
    this.nextTokenId = (tokenId + 1) >>> 0;
    const token = tokenOf(tokenId, this.deps.prng.nextUint32());
    const exchange = new ClientExchange({
      tokenId,
      token,
      target,
      peerKey,
      deadlineMs,
      request,
      body,
      requestTag: token.subarray(0, 4),
      szx: this.szx,
      wholeBodyBytesMax: this.options.wholeBodyBytesMax,
      bodyBytesMax: this.options.bodyBytesMax,
      uriPath: this.uriPath,
      qblock1Servers: this.options.qblock1 ? this.qblock1Servers : null,
      pieceServers: this.options.pieceBytes > 0 ? this.pieceServers : null,
      pieceBytes: this.options.pieceBytes,
    });
    this.byToken.set(tokenId, exchange);
    return exchange;
  }

  /** A message id that no confirmable message in flight holds. */
  private freeMessageId = (): number => {
    let messageId = this.nextMessageId;
    while (this.byMessageId.has(messageId)) messageId = (messageId + 1) & 0xffff;
    this.nextMessageId = (messageId + 1) & 0xffff;
    return messageId;
  };

  /** Sends the exchange's next message with a fresh message id and a fresh back-off. */
  private transmitNext(exchange: ClientExchange): void {
    if (exchange.messageId >= 0) this.byMessageId.delete(exchange.messageId);
    const messageId = this.freeMessageId();
    this.byMessageId.set(messageId, exchange);
    exchange.messageId = messageId;
    exchange.outgoing = exchange.nextOutgoing(messageId);
    exchange.acknowledged = false;
    this.timeouts.first(exchange, this.deps.timers.nowMs());
    // Q-Block1: the set's non-confirmable blocks go first, then the confirmable one (client-qblock.ts).
    for (const leading of exchange.leadingOutgoing(this.freeMessageId))
      this.sendRaw(leading, exchange.target).catch((e: unknown) => this.fail(exchange, asNetworkError(e)));
    this.send(exchange);
    this.arm(exchange);
  }

  private send(exchange: ClientExchange): void {
    exchange.sending = true;
    const messageId = exchange.messageId;
    this.sendRaw(exchange.outgoing, exchange.target).then(
      () => {
        if (exchange.messageId !== messageId) return;
        exchange.sending = false;
        this.timeouts.taken(exchange, this.deps.timers.nowMs());
      },
      (error: unknown) => this.fail(exchange, asNetworkError(error)),
    );
  }

  private openEndpoint(): Promise<DatagramEndpoint> {
    if (this.closed) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'coap client is closed'));
    if (this.endpoint === null) {
      const opening = this.deps.openEndpoint().then(
        (endpoint) => {
          endpoint.onMessage((data, peer) => this.onDatagram(data, peer));
          if (this.endpoint === opening) this.openedEndpoint = endpoint;
          return endpoint;
        },
        (error: unknown) => {
          // Let a later request try again.
          if (this.endpoint === opening) this.endpoint = null;
          throw asNetworkError(error);
        },
      );
      this.endpoint = opening;
    }
    return this.endpoint;
  }

  /** (Re)arms the exchange's one timer for its next retransmission or its deadline. */
  private arm(exchange: ClientExchange): void {
    if (exchange.settle === null) return;
    exchange.timer?.cancel();
    const dueMs = Math.min(exchange.deadlineMs, exchange.retransmitAtMs);
    exchange.timer = this.deps.timers.setTimer(Math.max(0, dueMs - this.deps.timers.nowMs()), () =>
      this.onTimer(exchange),
    );
  }

  private onTimer(exchange: ClientExchange): void {
    if (exchange.settle === null) return;
    exchange.timer = null;
    const nowMs = this.deps.timers.nowMs();
    if (nowMs >= exchange.deadlineMs) {
      this.stats.timeouts += 1;
      return this.fail(
        exchange,
        new NetworkError(
          'NET_TIMEOUT',
          `no response from ${exchange.target.address}:${exchange.target.port} within the deadline`,
        ),
      );
    }
    if (nowMs >= exchange.retransmitAtMs) this.maybeRetransmit(exchange, nowMs);
    this.arm(exchange);
  }

  /** RFC 7252 §4.2: resend the same datagram after a doubling timeout (retransmission.ts). */
  private maybeRetransmit(exchange: ClientExchange, nowMs: number): void {
    if (!this.timeouts.expired(exchange, nowMs)) return;
    this.stats.retransmissions += 1;
    this.send(exchange);
  }

  /** A whole response or an empty message is read in place (client-response.ts); others go to onMessage. */
  private onDatagram(data: Uint8Array, peer: DatagramPeer): void {
    const reader = this.reader;
    if (!this.readDirect || !reader.read(data)) return this.onMessage(data, peer);
    if (reader.code === 0) return this.onEmpty(reader.type, reader.messageId, peer);
    const exchange = matchedExchange(reader, peer, this.byToken);
    const response =
      exchange !== undefined && exchange.awaitsWholeResponse ? readWholeResponse(reader, this.cursor, peer) : null;
    if (exchange === undefined || response === null) return this.onMessage(data, peer);
    const { type, messageId } = reader;
    if (type === CoapType.ACK) this.timeouts.answered(exchange, this.deps.timers.nowMs());
    // A separate response (RFC 7252 §5.2.2) is acknowledged.
    if (type === CoapType.CON) this.sendEmpty(CoapType.ACK, messageId, peer);
    this.onStep(exchange, { kind: 'done', response });
  }

  private onMessage(data: Uint8Array, peer: DatagramPeer): void {
    const decoded = decodeMessage(data);
    if (!decoded.ok) {
      this.stats.ignored += 1;
      if (decoded.header?.type === CoapType.CON) this.sendEmpty(CoapType.RST, decoded.header.messageId, peer);
      return;
    }
    const message = decoded.message;
    if (message.code === 0) return this.onEmpty(message.type, message.messageId, peer);
    const codeClass = codeClassOf(message.code);
    const exchange =
      codeClass >= 2 && codeClass <= 5 && message.token.length === 8
        ? this.byToken.get(tokenIdOf(message.token))
        : undefined;
    const matches = exchange !== undefined && exchange.isFrom(peer) && sameBytes(exchange.token, message.token);
    // A piggybacked response belongs to the message in flight; an ACK of an earlier block is stale.
    const ack = (): void => this.sendEmpty(CoapType.ACK, message.messageId, peer);
    if (exchange === undefined && this.observations.notified(message, peer, ack)) return;
    if (
      exchange === undefined ||
      !matches ||
      message.type === CoapType.RST ||
      (message.type === CoapType.ACK && message.messageId !== exchange.messageId)
    ) {
      this.stats.ignored += 1;
      if (message.type === CoapType.CON) this.sendEmpty(CoapType.RST, message.messageId, peer);
      return;
    }
    if (message.type === CoapType.ACK) this.timeouts.answered(exchange, this.deps.timers.nowMs());
    // A separate response (RFC 7252 §5.2.2) is acknowledged.
    if (message.type === CoapType.CON) this.sendEmpty(CoapType.ACK, message.messageId, peer);
    this.onStep(exchange, exchange.onResponse(message, peer));
  }

  private onEmpty(type: CoapType, messageId: number, peer: DatagramPeer): void {
    const exchange = this.byMessageId.get(messageId);
    if (type === CoapType.CON) return this.sendEmpty(CoapType.RST, messageId, peer);
    if (exchange === undefined || !exchange.isFrom(peer)) return;
    if (type === CoapType.ACK) this.timeouts.answered(exchange, this.deps.timers.nowMs());
    if (type === CoapType.ACK) exchange.acknowledged = true;
    if (type === CoapType.RST)
      this.fail(exchange, new NetworkError('NET_REJECTED', `${peer.address}:${peer.port} reset the request`));
  }

  private onStep(exchange: ClientExchange, step: ExchangeStep): void {
    switch (step.kind) {
      case 'send-next':
        return this.transmitNext(exchange);
      case 'failed':
        return this.fail(exchange, step.error);
      case 'done':
        this.observations.settled(exchange.tokenId, step.response);
        return this.forget(exchange)?.resolve(step.response);
    }
  }

  private fail(exchange: ClientExchange, error: NetworkError): void {
    this.forget(exchange)?.reject(error);
  }

  /** Removes the exchange from every table (a fresh one as each empties: withoutKey); returns its open settler. */
  private forget(exchange: ClientExchange): ExchangeSettler | null {
    const settler = exchange.settle;
    if (settler === null) return null;
    exchange.settle = null;
    exchange.timer?.cancel();
    exchange.timer = null;
    const { tokenId, messageId, peerKey } = exchange;
    this.byToken = withoutKey(this.byToken, tokenId);
    this.observations.settled(tokenId, null);
    if (this.byMessageId.get(messageId) === exchange) this.byMessageId = withoutKey(this.byMessageId, messageId);
    const count = (this.outstanding.get(peerKey) ?? 0) - 1;
    assert(count >= 0, 'outstanding count never negative');
    if (count === 0) this.outstanding = withoutKey(this.outstanding, peerKey);
    else this.outstanding.set(peerKey, count);
    return settler;
  }

  private sendEmpty(type: CoapType, messageId: number, peer: DatagramPeer): void {
    const bytes = encodeMessage({ type, code: 0, messageId, token: EMPTY, options: [], payload: EMPTY });
    // Best effort: a lost ACK or RST is answered again when the peer retransmits.
    this.sendRaw(bytes, peer).catch(() => (this.stats.sendFailures += 1));
  }

  private sendRaw(bytes: OutgoingMessage | Uint8Array, to: { readonly address: string; readonly port: number }) {
    const opened = this.openedEndpoint;
    if (opened !== null) return sendOutgoing(opened, bytes, to);
    return this.openEndpoint().then((endpoint) => sendOutgoing(endpoint, bytes, to));
  }
}
