/**
 * NetworkClient over HTTP/1.1 and HTTPS (TLS 1.2 PSK): each RPC is a POST to
 * `/raft/<RpcName>` with the serializer's media type, over keep-alive connections of one
 * bounded http.Agent per peer. The caller's deadline aborts the request (NET_TIMEOUT); a
 * status other than 200 becomes NetworkError (401/403 NET_AUTH, 413 NET_TOO_LARGE, others
 * NET_REJECTED) with the server's diagnostic text; a refused TLS handshake is NET_AUTH.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Timers } from '../../contracts/clock.js';
import { NetworkError, SerializationError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import { RPC_OF_REQUEST, type RequestMessage, type ResponseFor } from '../../contracts/messages.js';
import type { NetworkClient } from '../../contracts/network.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { assert } from '../../contracts/assert.js';
import { PeerBook, systemResolver, type HostResolver } from '../peer-book.js';
import { encodeRequest, formatAddress, isResponseTo, rpcPath, type PeerAddress } from '../rpc-routes.js';
import { resolveHttpClientOptions, type HttpClientOptions } from './config.js';
import { networkErrorOf, pskClientTlsOptions, type PskClientCredentials } from './psk.js';

/** The header that carries the sender's own peer address (InboundContext.peerAddress). */
export const PEER_ADDRESS_HEADER = 'coraft-peer-address';

/** What an HTTP(S) NetworkClient is given. */
export interface HttpNetworkClientDeps {
  readonly serializer: RpcSerializer;
  readonly timers: Timers;
  /** PSK credentials and cipher list for `https`; null for plain `http`. */
  readonly tls: { readonly credentials: PskClientCredentials; readonly ciphers: string } | null;
  /** This node's peer "host:port", sent as header `coraft-peer-address` (see HttpTransportOptions). */
  readonly advertisedAddress?: string;
  /** This node's own peer "host:port": a member known there is refused (see HttpTransportOptions). Default: none. */
  readonly ownAddress?: string;
  /** Resolves peer host names. Default: getaddrinfo. */
  readonly resolver?: HostResolver;
}

interface RawResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

interface PeerAgent {
  readonly address: PeerAddress;
  readonly agent: HttpAgent;
}

/** NetworkClient over HTTP(S); see the module comment. */
export class HttpNetworkClient implements NetworkClient {
  private readonly options: HttpClientOptions;
  private readonly book: PeerBook;
  private readonly agents = new Map<NodeId, PeerAgent>();
  private readonly outstanding = new Map<NodeId, number>();
  private readonly live = new Set<ClientRequest>();
  private closed = false;

  constructor(
    private readonly deps: HttpNetworkClientDeps,
    options: Partial<HttpClientOptions> = {},
  ) {
    this.options = resolveHttpClientOptions(options);
    this.book = new PeerBook(deps.resolver ?? systemResolver, undefined, undefined, deps.ownAddress ?? null);
  }

  async send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, 'request timeout is a positive number of ms');
    if (this.closed) throw new NetworkError('NET_UNREACHABLE', 'http client is closed');
    const peer = this.agentFor(target);
    // The book's literal, refused like the CoAP client's: a member at another's address or at this node's own.
    const at = this.book.literal(target) ?? (await this.book.resolve(target));
    const count = this.outstanding.get(target) ?? 0;
    if (count >= this.options.outstandingPerPeerMax) {
      throw new NetworkError(
        'NET_REJECTED',
        `outstandingPerPeerMax (${this.options.outstandingPerPeerMax}) requests already outstanding to ${target}`,
      );
    }
    const { rpc } = RPC_OF_REQUEST[request.type];
    const body = encodeRequest(this.deps.serializer, request);
    this.outstanding.set(target, count + 1);
    let raw: RawResponse;
    try {
      raw = await this.post(peer, at, rpcPath(rpc), body, timeoutMs);
    } finally {
      const left = (this.outstanding.get(target) ?? 1) - 1;
      if (left === 0) this.outstanding.delete(target);
      else this.outstanding.set(target, left);
    }
    return this.decodeResponse(target, request, raw);
  }

  setPeers(members: readonly { readonly id: NodeId; readonly address: string }[]): void {
    this.book.set(members);
    for (const [id, peer] of this.agents) {
      const now = this.book.get(id);
      if (now === null || now.host !== peer.address.host || now.port !== peer.address.port) {
        peer.agent.destroy();
        this.agents.delete(id);
      }
    }
  }
  reachedAt(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null> {
    return this.book.reachedAt(address);
  }

  close(): Promise<void> {
    this.closed = true;
    for (const request of this.live) request.destroy(new NetworkError('NET_UNREACHABLE', 'http client closed'));
    for (const peer of this.agents.values()) peer.agent.destroy();
    this.agents.clear();
    return Promise.resolve();
  }

  private agentFor(target: NodeId): PeerAgent {
    const existing = this.agents.get(target);
    if (existing !== undefined) return existing;
    const address = this.book.get(target);
    if (address === null) throw new NetworkError('NET_UNREACHABLE', `unknown peer ${target}`);
    const common = {
      keepAlive: true,
      maxSockets: this.options.socketsPerPeerMax,
      maxFreeSockets: this.options.socketsPerPeerMax,
      scheduling: 'lifo' as const,
    };
    const tls = this.deps.tls;
    const agent =
      tls === null
        ? new HttpAgent(common)
        : new HttpsAgent({
            ...common,
            maxCachedSessions: 0,
            ...pskClientTlsOptions(tls.credentials, target, tls.ciphers),
          });
    const peer = { address, agent };
    this.agents.set(target, peer);
    return peer;
  }

  /** Posts `body` and collects the whole response, within the deadline and the body bound. */
  private post(
    peer: PeerAgent,
    at: { readonly address: string; readonly port: number },
    path: string,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<RawResponse> {
    const serializer = this.deps.serializer;
    const where = `${this.deps.tls === null ? 'http' : 'https'}://${formatAddress(at.address, at.port)}${path}`;
    return new Promise<RawResponse>((resolve, reject) => {
      const send = this.deps.tls === null ? httpRequest : httpsRequest;
      const request = send({
        host: at.address,
        port: at.port,
        method: 'POST',
        path,
        agent: peer.agent,
        headers: {
          'content-type': serializer.mediaType,
          accept: serializer.mediaType,
          'content-length': body.length,
          ...(this.deps.advertisedAddress === undefined ? {} : { [PEER_ADDRESS_HEADER]: this.deps.advertisedAddress }),
        },
      });
      this.live.add(request);
      const timer = this.deps.timers.setTimer(timeoutMs, () =>
        request.destroy(new NetworkError('NET_TIMEOUT', `no response from ${where} within ${timeoutMs} ms`)),
      );
      let settled = false;
      const finish = (outcome: RawResponse | NetworkError): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.live.delete(request);
        if (outcome instanceof NetworkError) reject(outcome);
        else resolve(outcome);
      };
      request.on('error', (error) => finish(networkErrorOf(error, where)));
      request.once('response', (response) => this.collect(request, response, finish, where));
      request.end(body);
    });
  }

  private collect(
    request: ClientRequest,
    response: IncomingMessage,
    done: (outcome: RawResponse | NetworkError) => void,
    where: string,
  ): void {
    const max = this.options.bodyBytesMax;
    const tooLarge = (): void =>
      void request.destroy(new NetworkError('NET_TOO_LARGE', `response body exceeds bodyBytesMax ${max}`));
    response.on('error', (error) => done(networkErrorOf(error, where)));
    if (Number(response.headers['content-length'] ?? 0) > max) return tooLarge();
    const chunks: Buffer[] = [];
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > max) tooLarge();
      else chunks.push(chunk);
    });
    response.once('end', () => {
      if (!response.complete) return done(new NetworkError('NET_UNREACHABLE', `${where}: response cut short`));
      done({
        status: response.statusCode ?? 0,
        contentType: response.headers['content-type'] ?? '',
        body: Buffer.concat(chunks, bytes),
      });
    });
  }

  private decodeResponse<R extends RequestMessage>(target: NodeId, request: R, raw: RawResponse): ResponseFor<R> {
    const { rpc, responseType } = RPC_OF_REQUEST[request.type];
    if (raw.status !== 200) {
      const text = `peer ${target} answered ${raw.status}: ${raw.body.subarray(0, 200).toString('utf8')}`;
      if (raw.status === 401 || raw.status === 403) throw new NetworkError('NET_AUTH', text);
      throw new NetworkError(raw.status === 413 ? 'NET_TOO_LARGE' : 'NET_REJECTED', text);
    }
    if (mediaTypeOf(raw.contentType) !== this.deps.serializer.mediaType) {
      throw new NetworkError('NET_REJECTED', `peer ${target} answered ${rpc} as ${raw.contentType}`);
    }
    let decoded;
    try {
      decoded = this.deps.serializer.decodeAs(responseType, raw.body);
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      throw new NetworkError('NET_REJECTED', `peer ${target} sent a malformed ${rpc} response: ${error.message}`, {
        cause: error,
      });
    }
    if (!isResponseTo(request, decoded))
      throw new NetworkError('NET_REJECTED', `peer ${target} answered ${rpc} with ${decoded.type}`);
    return decoded;
  }
}

/** The media type of a Content-Type header, without parameters, lower-cased. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
