/**
 * The CLI's client of the local endpoint: CoAP requests to 127.0.0.1:5683 (or `--endpoint`),
 * with the node's answers turned into values or clear errors. One client per command; it is
 * closed when the command ends.
 */
import { CoapClient, CoapOption, formatCode } from '../../transport/coap/index.js';
import type { CoapClientRequest, CoapClientResponse } from '../../transport/coap/index.js';
import { option } from '../../transport/coap/options.js';
import { pieceBytesFor } from '../../transport/coap/pieces.js';
import type { CoapObservation, NotificationListener } from '../../transport/coap/client-observations.js';
import type { CoapClientStats } from '../../transport/coap/client-types.js';
import { createCryptoPrng, createRealTimers } from '../../transport/timers.js';
import { openUdpEndpoint } from '../../transport/udp.js';
import { parseHostPort } from '../config/agent-config.js';
import type { HostPort } from '../config/agent-config.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';

/** The endpoint a command talks to when --endpoint is not given. */
export const DEFAULT_ENDPOINT = '127.0.0.1:5683';

/** A CoAP error answer from the endpoint. */
export class EndpointError extends Error {
  constructor(
    readonly coapCode: string,
    message: string,
  ) {
    super(message);
  }

  override get name(): string {
    return 'EndpointError';
  }
}

/** How to reach the endpoint. */
export interface EndpointTarget {
  readonly endpoint: HostPort;
  /** Opens the client's datagram endpoint (UDP, or DTLS with the admin PSK). */
  readonly open?: () => Promise<DatagramEndpoint>;
  readonly timeoutMs: number;
  /**
   * The largest request body sent whole in one datagram (CoapClientOptions.wholeBodyBytesMax).
   * Default: LOOPBACK_WHOLE_BODY_BYTES_MAX to a plain-UDP endpoint on loopback, else 1024.
   */
  readonly wholeBodyBytesMax?: number;
  /** Bodies that go block-wise use Q-Block1 with a server that takes it (CoapClientOptions.qblock1). Default true. */
  readonly qblock1?: boolean;
}

/** Resolves --endpoint (default 127.0.0.1:5683). */
export function endpointTarget(text: string | undefined, timeoutMs: number): EndpointTarget {
  return { endpoint: parseHostPort(text ?? DEFAULT_ENDPOINT, '--endpoint'), timeoutMs };
}

/**
 * The largest request body sent whole to a plain-UDP endpoint on loopback, where one datagram
 * holds it and nothing fragments or drops it: a 4 KiB value goes in one request, not in four
 * Block1 round trips. Larger bodies, and every body to another host or through DTLS, go in
 * 1 KiB Q-Block1 blocks, a round trip per set of 10 (Block1 to a server without Q-Block1).
 */
export const LOOPBACK_WHOLE_BODY_BYTES_MAX = 60_000;

/** True for an IPv4 loopback address (127.0.0.0/8) or ::1. */
export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export class EndpointClient {
  private readonly client: CoapClient;

  constructor(private readonly target: EndpointTarget) {
    const host = target.endpoint.host;
    const whole =
      target.wholeBodyBytesMax ??
      (target.open === undefined && isLoopbackAddress(host) ? LOOPBACK_WHOLE_BODY_BYTES_MAX : null);
    this.client = new CoapClient(
      {
        openEndpoint:
          target.open ?? (() => openUdpEndpoint({ address: host.includes(':') ? '::' : '0.0.0.0', port: 0 })),
        timers: createRealTimers(),
        prng: createCryptoPrng(),
      },
      {
        ...(whole === null ? {} : { wholeBodyBytesMax: whole, pieceBytes: pieceBytesFor(whole) }),
        qblock1: target.qblock1 ?? true,
      },
    );
  }

  /** True when the endpoint answers a GET /status within `timeoutMs`, whatever the answer's code. */
  async answersWithin(timeoutMs: number): Promise<boolean> {
    const target = { address: this.target.endpoint.host, port: this.target.endpoint.port };
    return this.client.request(target, { method: 'GET', path: ['status'] }, timeoutMs).then(
      () => true,
      () => false,
    );
  }

  /** Sends a request and returns the response, whatever its code. */
  async request(request: CoapClientRequest): Promise<CoapClientResponse> {
    return this.client.request(
      { address: this.target.endpoint.host, port: this.target.endpoint.port },
      request,
      this.target.timeoutMs,
    );
  }

  /**
   * Registers an Observe observation (RFC 7641) with `request`; `listener` receives every later
   * notification (`final`: the observation is over) until the observation is cancelled.
   */
  observe(request: CoapClientRequest, listener: NotificationListener): Promise<CoapObservation> {
    const target = { address: this.target.endpoint.host, port: this.target.endpoint.port };
    return this.client.observe(target, request, this.target.timeoutMs, listener);
  }

  /** Sends a request and returns its response, throwing EndpointError on a 4.xx or 5.xx. */
  async call(request: CoapClientRequest): Promise<CoapClientResponse> {
    const response = await this.request(request);
    if (response.code >= 0x80) {
      throw new EndpointError(
        formatCode(response.code),
        `${formatCode(response.code)} ${new TextDecoder().decode(response.payload)}`,
      );
    }
    return response;
  }

  /** GETs or POSTs JSON and parses the JSON answer. */
  async json(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const request: CoapClientRequest = {
      method,
      path: path.split('/').filter((s) => s !== ''),
      ...(body === undefined ? {} : { payload: new TextEncoder().encode(JSON.stringify(body)), contentFormat: 50 }),
    };
    const response = await this.call(request);
    const text = new TextDecoder().decode(response.payload);
    return text === '' ? null : (JSON.parse(text) as unknown);
  }

  /** The client's counters since it was made (requests, retransmissions, timeouts, ...). */
  get stats(): Readonly<CoapClientStats> {
    return this.client.stats;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The If-Match option carrying a revision ETag. */
export function ifMatchRevision(revision: number): ReturnType<typeof option> {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(revision));
  return option(CoapOption.IfMatch, bytes);
}

/** The If-None-Match option (create only). */
export function ifNoneMatch(): ReturnType<typeof option> {
  return option(CoapOption.IfNoneMatch, new Uint8Array(0));
}

/** The revision in an ETag, or null. */
export function revisionOf(etag: Uint8Array | null): number | null {
  if (etag === null || etag.byteLength === 0 || etag.byteLength > 8) return null;
  let value = 0;
  for (const byte of etag) value = value * 256 + byte;
  return value;
}

/**
 * Reads the fields of a JSON document the endpoint answered, checking each one's type; a
 * document of another shape is an EndpointError naming the field, never a crash later on.
 */
export class JsonFields {
  private constructor(
    private readonly value: object,
    private readonly at: string,
  ) {}

  /** Wraps `value`, which must be a JSON object. */
  static of(value: unknown, at = 'the answer'): JsonFields {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new EndpointError('', `${at} is not a JSON object`);
    return new JsonFields(value, at);
  }

  private get(name: string): unknown {
    return Reflect.get(this.value, name);
  }

  private wrong(name: string, expected: string): EndpointError {
    return new EndpointError('', `${this.at}: field ${name} is not ${expected}`);
  }

  string(name: string): string {
    const v = this.get(name);
    if (typeof v !== 'string') throw this.wrong(name, 'a string');
    return v;
  }

  number(name: string): number {
    const v = this.get(name);
    if (typeof v !== 'number') throw this.wrong(name, 'a number');
    return v;
  }

  boolean(name: string): boolean {
    const v = this.get(name);
    if (typeof v !== 'boolean') throw this.wrong(name, 'a boolean');
    return v;
  }

  /** A boolean field that may be absent (absent: false). */
  flag(name: string): boolean {
    const v = this.get(name);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw this.wrong(name, 'a boolean or absent');
    return v;
  }

  nullableString(name: string): string | null {
    const v = this.get(name);
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string') throw this.wrong(name, 'a string or null');
    return v;
  }

  nullableNumber(name: string): number | null {
    const v = this.get(name);
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number') throw this.wrong(name, 'a number or null');
    return v;
  }

  /** The array field `name`, each element a string. */
  strings(name: string): string[] {
    const v: unknown = this.get(name);
    if (!Array.isArray(v) || !v.every((element: unknown) => typeof element === 'string'))
      throw this.wrong(name, 'an array of strings');
    return v.filter((element: unknown): element is string => typeof element === 'string');
  }

  /** The array field `name`, each element an object. */
  objects(name: string): JsonFields[] {
    const v: unknown = this.get(name);
    if (!Array.isArray(v)) throw this.wrong(name, 'an array');
    return v.map((element: unknown, i) => JsonFields.of(element, `${this.at}.${name}[${i}]`));
  }
}
