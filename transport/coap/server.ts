/**
 * A CoAP server (RFC 7252) over any DatagramEndpoint: resources by path and method,
 * piggybacked responses, duplicate detection with cached responses, strict rejection of
 * malformed messages, and block-wise request and response bodies (RFC 7959, with RFC 9175
 * Request-Tag so that one client can run many transfers to one resource at once).
 *
 * It serves the peer RPC resources now and is meant to serve the agent's local endpoint
 * later: handlers see the method, path, query, Accept, ETag, If-Match and If-None-Match, and
 * `notify` is the hook on which Observe (RFC 7641) notifications will be sent.
 */
import { InvariantError, type Clock } from '../../agent/contracts.js';
import { assert } from '../assert.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import { Block1Reassembler, Block2Store, type StoredResponse } from './block-store.js';
import { CoapOption, CoapResponseCode, CoapType, codeClassOf } from './codes.js';
import { resolveCoapServerOptions, type CoapServerOptions } from './config.js';
import { DuplicateCache } from './duplicate-cache.js';
import { decodeMessage, encodeMessage, type CoapMessage, type CoapOptionValue } from './message.js';
import { blockSizeOf, encodeBlock, encodeUint, option, szxOf, uintOption, type BlockValue } from './options.js';
import { diagnosticResponse, parseRequest, type CoapRequest, type CoapResponse, type RequestBlockFields } from './request.js';
import { responseOptions } from './response-options.js';
import { ResourceRouter, type CoapResourceHandler, type CoapResourceMethods } from './router.js';

/** What a CoAP server is given. */
export interface CoapServerDeps {
  /** Opens the endpoint to listen on; `start` calls it, `stop` closes what it returned. */
  readonly openEndpoint: () => Promise<DatagramEndpoint>;
  readonly clock: Clock;
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
}

/** How one request message is answered. */
interface Exchange {
  readonly peer: DatagramPeer;
  readonly peerKey: string;
  readonly messageId: number;
  readonly token: Uint8Array;
  readonly confirmable: boolean;
}

/** A CoAP server; see the module comment. */
export class CoapServer {
  readonly stats: CoapServerStats = { requests: 0, duplicates: 0, malformed: 0, busy: 0, sendFailures: 0 };
  private readonly options: CoapServerOptions;
  private readonly router = new ResourceRouter();
  private readonly duplicates: DuplicateCache;
  private readonly block1: Block1Reassembler;
  private readonly block2: Block2Store;
  private endpoint: DatagramEndpoint | null = null;
  /** Bumped by `stop`, so that answers of handlers started before it are dropped. */
  private generation = 0;
  private inFlight = 0;
  private nextMessageId = 0;
  private nextEtag = 0;
  private resetListener: ((peer: DatagramPeer, messageId: number) => void) | null = null;

  constructor(
    private readonly deps: CoapServerDeps,
    options: Partial<CoapServerOptions> = {},
  ) {
    this.options = resolveCoapServerOptions(options);
    const o = this.options;
    this.duplicates = new DuplicateCache({ entriesMax: o.duplicateCacheEntriesMax, lifetimeMs: o.duplicateCacheLifetimeMs }, deps.clock);
    const store = { bodyBytesMax: o.bodyBytesMax, transfersMax: o.blockTransfersMax, totalBytesMax: o.blockBytesTotalMax, lifetimeMs: o.blockTransferLifetimeMs };
    this.block1 = new Block1Reassembler(store, deps.clock);
    this.block2 = new Block2Store(store, deps.clock);
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
    this.block1.clear();
    this.block2.clear();
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

  /**
   * Sends a non-confirmable response outside a request/response exchange, and resolves with
   * its message id: the hook for Observe notifications (RFC 7641 §4.2), which a resource
   * sends with the token of the registering request. A client that no longer wants them
   * answers RST, which reaches the listener set by `onReset`. TODO: confirmable
   * notifications need retransmission; the local endpoint's Observe support will add them,
   * and nothing sends notifications yet.
   */
  async notify(peer: DatagramPeer, token: Uint8Array, response: CoapResponse): Promise<number> {
    const endpoint = this.endpoint;
    assert(endpoint !== null, 'notify on a running server');
    const message = this.buildResponse({ peer, peerKey: '', messageId: 0, token, confirmable: false }, response, []);
    await endpoint.send(encodeMessage(message), peer.address, peer.port);
    return message.messageId;
  }

  /** Sets the listener of RST messages from clients (RFC 7641 §3.6: "cancel my observation"). */
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
    if (message.code === 0 && message.type === CoapType.RST) return this.resetListener?.(peer, message.messageId);
    // A ping (empty CON), or a response or reserved code this server did not ask for.
    if (message.type === CoapType.CON) this.sendReset(message.messageId, peer);
  }

  private onRequest(message: CoapMessage, peer: DatagramPeer): void {
    const peerKey = `${peer.address}|${peer.port}|${peer.identity ?? ''}`;
    const exchange: Exchange = { peer, peerKey, messageId: message.messageId, token: message.token, confirmable: message.type === CoapType.CON };
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
    if (route.kind === 'no-resource') return this.respond(exchange, diagnosticResponse(CoapResponseCode.NotFound, 'no such resource'), []);
    if (route.kind === 'no-method') return this.respond(exchange, diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'method not allowed'), []);
    const blockwise = block.block1 !== null || block.block2 !== null;
    // Only block-wise requests need their transfer key; building it costs a few strings.
    const transferKey = blockwise ? transferKeyOf(peerKey, request, block) : '';
    if (block.block2 !== null && block.block2.num > 0 && block.block1 === null) {
      const stored = this.block2.get(transferKey);
      if (stored !== null) return this.respondBlock(exchange, stored, block.block2, transferKey);
      if (request.method !== 'GET') {
        return this.respond(exchange, diagnosticResponse(CoapResponseCode.RequestEntityIncomplete, 'no stored response body; repeat the request'), []);
      }
    }
    const body = this.requestBody(exchange, request, block, transferKey);
    if (body === null) return;
    if (this.inFlight >= this.options.requestsInFlightMax) {
      this.stats.busy += 1;
      return this.respond(exchange, diagnosticResponse(CoapResponseCode.ServiceUnavailable, 'too many requests in progress'), []);
    }
    void this.runHandler(exchange, route.handler, body === request.payload ? request : { ...request, payload: body }, block, transferKey);
  }

  /** The whole request body, or null when it is incomplete or refused (and already answered). */
  private requestBody(exchange: Exchange, request: CoapRequest, block: RequestBlockFields, transferKey: string): Uint8Array | null {
    if (block.block1 === null) {
      if (request.payload.length <= this.options.bodyBytesMax) return request.payload;
      this.respond(exchange, diagnosticResponse(CoapResponseCode.RequestEntityTooLarge, 'request body too large'), [uintOption(CoapOption.Size1, this.options.bodyBytesMax)]);
      return null;
    }
    const outcome = this.block1.accept(transferKey, block.block1, request.payload, block.size1);
    switch (outcome.kind) {
      case 'continue':
        this.respond(exchange, { code: CoapResponseCode.Continue }, [option(CoapOption.Block1, encodeBlock(block.block1))]);
        return null;
      case 'refused':
        this.respond(exchange, outcome.response, []);
        return null;
      case 'complete':
        return outcome.body;
    }
  }

  private async runHandler(exchange: Exchange, handler: CoapResourceHandler, request: CoapRequest, block: RequestBlockFields, transferKey: string): Promise<void> {
    const generation = this.generation;
    this.inFlight += 1;
    let response: CoapResponse;
    try {
      response = await handler(request);
    } catch (error: unknown) {
      // A bug is not an operating condition: let it stop the process.
      if (error instanceof InvariantError) throw error;
      response = diagnosticResponse(CoapResponseCode.InternalServerError, `handler failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.inFlight -= 1;
    }
    assert(this.inFlight >= 0, 'in-flight request count never negative');
    if (generation !== this.generation) return;
    // RFC 7959 §2.3: the final response to a Block1 transfer echoes its last Block1 option.
    const echo = block.block1 === null ? [] : [option(CoapOption.Block1, encodeBlock(block.block1))];
    const szx = Math.min(szxOf(this.options.blockBytes), block.block2?.szx ?? Number.MAX_SAFE_INTEGER);
    const payload = response.payload ?? new Uint8Array(0);
    if (payload.length <= blockSizeOf(szx) && (block.block2?.num ?? 0) === 0) return this.respond(exchange, response, echo);
    const stored: StoredResponse = { response, body: payload, etag: response.etag ?? this.newEtag() };
    const key = transferKey === '' ? transferKeyOf(exchange.peerKey, request, block) : transferKey;
    if (!this.block2.put(key, stored)) {
      return this.respond(exchange, diagnosticResponse(CoapResponseCode.ServiceUnavailable, 'response body buffer full'), echo);
    }
    this.respondBlock(exchange, stored, { num: block.block2?.num ?? 0, more: false, szx }, key, echo);
  }

  /** Answers with block `wanted.num` of a stored response body (RFC 7959 §2.4). */
  private respondBlock(exchange: Exchange, stored: StoredResponse, wanted: BlockValue, transferKey: string, extra: readonly CoapOptionValue[] = []): void {
    const szx = Math.min(wanted.szx, szxOf(this.options.blockBytes));
    const size = blockSizeOf(szx);
    const offset = wanted.num * size;
    if (offset >= stored.body.length && offset > 0) {
      return this.respond(exchange, diagnosticResponse(CoapResponseCode.BadOption, 'block number beyond the body'), []);
    }
    const more = offset + size < stored.body.length;
    if (!more) this.block2.delete(transferKey);
    const response: CoapResponse = { ...stored.response, payload: stored.body.subarray(offset, offset + size), etag: stored.etag };
    const blockOptions = [option(CoapOption.Block2, encodeBlock({ num: wanted.num, more, szx })), uintOption(CoapOption.Size2, stored.body.length)];
    this.respond(exchange, response, [...extra, ...blockOptions]);
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
      options: [...responseOptions(response), ...extra],
      payload: response.payload ?? new Uint8Array(0),
    };
  }

  private sendReset(messageId: number, peer: DatagramPeer): void {
    const empty = new Uint8Array(0);
    this.transmit(encodeMessage({ type: CoapType.RST, code: 0, messageId, token: empty, options: [], payload: empty }), peer);
  }

  private transmit(bytes: Uint8Array, peer: DatagramPeer): void {
    const endpoint = this.endpoint;
    if (endpoint === null) return;
    // A lost response is recovered by the client's retransmission, answered from the cache.
    endpoint.send(bytes, peer.address, peer.port).catch(() => {
      this.stats.sendFailures += 1;
    });
  }

  private allocateMessageId(): number {
    this.nextMessageId = (this.nextMessageId + 1) & 0xffff;
    return this.nextMessageId;
  }

  private newEtag(): Uint8Array {
    this.nextEtag = (this.nextEtag + 1) >>> 0;
    return encodeUint(this.nextEtag === 0 ? 1 : this.nextEtag);
  }
}

/** Identifies a block-wise transfer: peer, method, resource, query and Request-Tag. */
function transferKeyOf(peerKey: string, request: CoapRequest, block: RequestBlockFields): string {
  const tag = block.requestTag === null ? '' : Buffer.from(block.requestTag).toString('hex');
  return `${peerKey}|${request.method}|${request.path.join('/')}?${request.query.join('&')}|${tag}`;
}
