/**
 * NetworkServer over HTTP/1.1 and HTTPS (TLS 1.2 PSK): `POST /raft/<RpcName>` with the
 * serializer's media type, answered 200 with the encoded response. Failures are HTTP
 * statuses with a short text/plain diagnostic: 404 unknown path, 405 not POST, 415 foreign
 * media type, 413 body over bodyBytesMax (refused from Content-Length before it is read when
 * possible, and the connection closed), 400 a body that does not decode, 401/403 a failed
 * authentication, 503 no handler yet, too many requests or a stopping node, 500 anything else.
 * Over HTTPS, InboundContext.peerIdentity is the PSK identity the server accepted for the
 * connection.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { NetworkError, SerializationError } from '../../contracts/errors.js';
import { RPC_OF_REQUEST, type RpcName } from '../../contracts/messages.js';
import type { NetworkServer, RpcHandler } from '../../contracts/network.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { assert } from '../../contracts/assert.js';
import {
  REQUEST_TYPE_OF_RPC,
  classifyHandlerError,
  describeHandlerError,
  formatAddress,
  rpcNameOfSegments,
  parsePeerAddress,
} from '../rpc-routes.js';
import { PEER_ADDRESS_HEADER, mediaTypeOf } from './client.js';
import { resolveHttpServerOptions, type HttpServerOptions } from './config.js';
import { pskServerTlsOptions, type PskServerCredentials } from './psk.js';

/** What an HTTP(S) NetworkServer is given. */
export interface HttpNetworkServerDeps {
  readonly serializer: RpcSerializer;
  /** The IP literal or host to listen on, and the TCP port (0 picks a free one). */
  readonly listenAddress: string;
  readonly listenPort: number;
  /** PSK credentials and cipher list for `https`; null for plain `http`. */
  readonly tls: { readonly credentials: PskServerCredentials; readonly ciphers: string } | null;
}

interface Reply {
  readonly status: number;
  readonly body: Uint8Array | string;
  readonly contentType?: string;
}

/** NetworkServer over HTTP(S); see the module comment. */
export class HttpNetworkServer implements NetworkServer {
  private readonly options: HttpServerOptions;
  private readonly identities = new WeakMap<object, string>();
  /** The open TLS connections of each authenticated identity; a connection leaves its set when it closes. */
  private readonly connections = new Map<string, Set<TLSSocket>>();
  private server: Server | null = null;
  private handler: RpcHandler | null = null;
  private inFlight = 0;
  private errors = 0;

  constructor(
    private readonly deps: HttpNetworkServerDeps,
    options: Partial<HttpServerOptions> = {},
  ) {
    this.options = resolveHttpServerOptions(options);
  }

  setHandler(handler: RpcHandler): void {
    this.handler = handler;
  }

  async start(): Promise<void> {
    if (this.server !== null) return;
    const o = this.options;
    const common = { noDelay: true, headersTimeout: o.headersTimeoutMs, requestTimeout: o.requestTimeoutMs };
    const onRequest = (request: IncomingMessage, response: ServerResponse): void =>
      void this.onRequest(request, response);
    const tls = this.deps.tls;
    let server: Server;
    if (tls === null) server = createHttpServer(common, onRequest);
    else {
      const secure = createHttpsServer(
        {
          ...common,
          ...pskServerTlsOptions(tls.credentials, tls.ciphers, (socket, identity) =>
            this.authenticated(socket, identity),
          ),
        },
        onRequest,
      );
      // A failed handshake (unknown identity, wrong key) concerns one peer, not the server.
      secure.on('tlsClientError', (_error, socket) => socket.destroy());
      server = secure;
    }
    server.maxConnections = o.connectionsMax;
    server.keepAliveTimeout = o.keepAliveTimeoutMs;
    server.headersTimeout = o.headersTimeoutMs;
    server.requestTimeout = o.requestTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new NetworkError(
            'NET_UNREACHABLE',
            `cannot listen on ${this.deps.listenAddress}:${this.deps.listenPort}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      server.listen(this.deps.listenPort, this.deps.listenAddress, () => resolve());
    });
    // A malformed request or a broken connection concerns one peer, not the server.
    server.on('clientError', (_error, socket) => socket.destroy());
    // After listening, an error (e.g. EMFILE on accept) refuses one connection; it is counted.
    server.on('error', () => {
      this.errors += 1;
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  isRunning(): boolean {
    return this.server !== null;
  }

  /**
   * Closes every connection authenticated as `identity` (after its key was revoked or changed);
   * returns how many. New connections consult the credentials again.
   */
  closeSessionsOf(identity: string): number {
    const sockets = this.connections.get(identity);
    if (sockets === undefined) return 0;
    this.connections.delete(identity);
    for (const socket of sockets) socket.destroy();
    return sockets.size;
  }

  /** The identities with open connections. */
  sessionIdentities(): string[] {
    return [...this.connections.keys()];
  }

  private authenticated(socket: TLSSocket, identity: string): void {
    this.identities.set(socket, identity);
    const set = this.connections.get(identity) ?? new Set<TLSSocket>();
    set.add(socket);
    this.connections.set(identity, set);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.connections.get(identity) === set) this.connections.delete(identity);
    });
  }

  /** Server socket errors seen after it started listening. */
  get errorCount(): number {
    return this.errors;
  }

  /** The bound address; the server must be running. */
  localAddress(): { readonly address: string; readonly port: number } {
    const address = this.server?.address();
    assert(typeof address === 'object' && address !== null, 'localAddress of a running server');
    const info: AddressInfo = address;
    return { address: info.address, port: info.port };
  }

  private async onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.answer(request);
    } catch (error: unknown) {
      // The request broke off while its body was read: nobody is left to answer.
      if (!(error instanceof NetworkError)) throw error;
      response.destroy();
      return;
    }
    if (response.destroyed) return;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
    response.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'text/plain; charset=utf-8',
      'content-length': body.length,
    });
    response.end(body);
  }

  private async answer(request: IncomingMessage): Promise<Reply> {
    const name = rpcNameOfSegments(
      (request.url ?? '')
        .split('?')[0]
        ?.split('/')
        .filter((s) => s.length > 0) ?? [],
    );
    if (name === null) return drained(request, { status: 404, body: 'no such resource' });
    if (request.method !== 'POST') return drained(request, { status: 405, body: 'method not allowed' });
    const mediaType = this.deps.serializer.mediaType;
    if (mediaTypeOf(request.headers['content-type'] ?? '') !== mediaType)
      return drained(request, { status: 415, body: `expected ${mediaType}` });
    const handler = this.handler;
    if (handler === null) return drained(request, { status: 503, body: 'no handler yet' });
    if (this.inFlight >= this.options.requestsInFlightMax)
      return drained(request, { status: 503, body: 'too many requests in progress' });
    this.inFlight += 1;
    try {
      const body = await readBody(request, this.options.bodyBytesMax);
      if (body === null) return { status: 413, body: `request body exceeds ${this.options.bodyBytesMax} bytes` };
      return await this.handle(name, body, request, handler);
    } finally {
      this.inFlight -= 1;
    }
  }

  private async handle(name: RpcName, body: Uint8Array, request: IncomingMessage, handler: RpcHandler): Promise<Reply> {
    let message;
    try {
      message = this.deps.serializer.decodeAs(REQUEST_TYPE_OF_RPC[name], body);
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      return { status: error.code === 'CODEC_LIMIT' ? 413 : 400, body: describeHandlerError(error) };
    }
    const socket = request.socket;
    const advertised = request.headers[PEER_ADDRESS_HEADER];
    const context = {
      peerIdentity: this.identities.get(socket) ?? null,
      remoteAddress: formatAddress(socket.remoteAddress ?? '', socket.remotePort ?? 0),
      ...(typeof advertised === 'string' && advertised.length <= 255 && parsePeerAddress(advertised) !== null
        ? { peerAddress: advertised }
        : {}),
    };
    let response;
    try {
      response = await handler(message, context);
    } catch (error: unknown) {
      const kind = classifyHandlerError(error);
      const status =
        kind === 'auth'
          ? context.peerIdentity === null
            ? 401
            : 403
          : kind === 'too-large'
            ? 413
            : kind === 'unavailable'
              ? 503
              : 500;
      return { status, body: describeHandlerError(error) };
    }
    assert(
      response.type === RPC_OF_REQUEST[message.type].responseType,
      'the handler answers with the response type of the request',
    );
    return { status: 200, body: this.deps.serializer.encode(response), contentType: this.deps.serializer.mediaType };
  }
}

/**
 * Reads a request body of at most `bytesMax` bytes; null as soon as it is known to be larger.
 * The rest of a refused body is read and discarded, so that the client reads the 413 rather
 * than a reset, and the connection stays usable (requestTimeoutMs bounds a body that never ends).
 */
function readBody(request: IncomingMessage, bytesMax: number): Promise<Uint8Array | null> {
  if (Number(request.headers['content-length'] ?? 0) > bytesMax) return Promise.resolve(drained(request, null));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      bytes += chunk.length;
      if (bytes <= bytesMax) return void chunks.push(chunk);
      refused = true;
      chunks.length = 0;
      resolve(null);
    });
    request.once('end', () => {
      if (!refused) resolve(Buffer.concat(chunks, bytes));
    });
    request.on('error', (error) =>
      reject(new NetworkError('NET_UNREACHABLE', `request body cut short: ${error.message}`, { cause: error })),
    );
  });
}

/** Returns `value` after setting the request body to be read and discarded, keeping the connection usable. */
function drained<T>(request: IncomingMessage, value: T): T {
  request.resume();
  return value;
}
