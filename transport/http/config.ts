/**
 * Options of the HTTP(S) peer client and server, with units, defaults and limits, validated
 * once when a client or server is built.
 */
import { ConfigError } from '../../contracts/errors.js';
import { checkRange } from '../config-checks.js';

/** Options of an HTTP(S) NetworkClient. */
export interface HttpClientOptions {
  /**
   * Most keep-alive connections to one peer (http.Agent maxSockets). HTTP/1.1 carries one
   * request per connection at a time, so requests beyond it wait in the agent's queue,
   * which `outstandingPerPeerMax` bounds. Default 32; 1..1,024.
   */
  readonly socketsPerPeerMax: number;
  /** Most requests outstanding to one peer; more are refused with NetworkError. Default 128; 1..4,096. */
  readonly outstandingPerPeerMax: number;
  /** Largest response body, in bytes. Default 8 MiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
}

/** Options of an HTTP(S) NetworkServer. */
export interface HttpServerOptions {
  /** Largest request body, in bytes; more is answered 413. Default 8 MiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
  /** Most requests being handled at once; more are answered 503. Default 1,024; 1..65,536. */
  readonly requestsInFlightMax: number;
  /** Most open connections (server.maxConnections). Default 256; 1..65,536. */
  readonly connectionsMax: number;
  /**
   * How long an idle keep-alive connection is kept, in ms (server.keepAliveTimeout). Clients
   * close theirs a second earlier, from the Keep-Alive header. Default 30,000; 1,000..600,000.
   */
  readonly keepAliveTimeoutMs: number;
  /** Time allowed to receive a request's headers, in ms. Default 10,000; 1,000..600,000. */
  readonly headersTimeoutMs: number;
  /** Time allowed to receive a whole request, in ms. Default 60,000; headersTimeoutMs..600,000. */
  readonly requestTimeoutMs: number;
}

const MIB = 1024 * 1024;

/** Defaults of {@link HttpClientOptions}. */
export const DEFAULT_HTTP_CLIENT_OPTIONS: HttpClientOptions = {
  socketsPerPeerMax: 32,
  outstandingPerPeerMax: 128,
  bodyBytesMax: 8 * MIB,
};

/** Defaults of {@link HttpServerOptions}. */
export const DEFAULT_HTTP_SERVER_OPTIONS: HttpServerOptions = {
  bodyBytesMax: 8 * MIB,
  requestsInFlightMax: 1_024,
  connectionsMax: 256,
  keepAliveTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
};

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveHttpClientOptions(partial: Partial<HttpClientOptions> = {}): HttpClientOptions {
  const options = { ...DEFAULT_HTTP_CLIENT_OPTIONS, ...partial };
  const problems: string[] = [];
  checkRange(problems, 'socketsPerPeerMax', options.socketsPerPeerMax, 1, 1_024);
  checkRange(problems, 'outstandingPerPeerMax', options.outstandingPerPeerMax, 1, 4_096);
  checkRange(problems, 'bodyBytesMax', options.bodyBytesMax, 1024, 64 * MIB);
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveHttpServerOptions(partial: Partial<HttpServerOptions> = {}): HttpServerOptions {
  const options = { ...DEFAULT_HTTP_SERVER_OPTIONS, ...partial };
  const problems: string[] = [];
  checkRange(problems, 'bodyBytesMax', options.bodyBytesMax, 1024, 64 * MIB);
  checkRange(problems, 'requestsInFlightMax', options.requestsInFlightMax, 1, 65_536);
  checkRange(problems, 'connectionsMax', options.connectionsMax, 1, 65_536);
  checkRange(problems, 'keepAliveTimeoutMs', options.keepAliveTimeoutMs, 1_000, 600_000);
  checkRange(problems, 'headersTimeoutMs', options.headersTimeoutMs, 1_000, 600_000);
  checkRange(problems, 'requestTimeoutMs', options.requestTimeoutMs, options.headersTimeoutMs, 600_000);
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}
