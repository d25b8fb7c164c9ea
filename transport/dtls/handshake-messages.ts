/**
 * Encoding and parsing of the handshake messages of a DTLS 1.2 PSK handshake (RFC 5246 §7.4,
 * RFC 6347 §4.3.2, RFC 4279 §2): ClientHello, HelloVerifyRequest, ServerHello,
 * ServerKeyExchange (the PSK identity hint), ServerHelloDone, ClientKeyExchange (the PSK
 * identity) and Finished. Parsers return null for anything malformed; callers answer with a
 * decode_error alert or drop, as the state they are in requires.
 */
import { ByteReader, ByteWriter, DecodeError, tryDecode } from './bytes.js';
import { COOKIE_BYTES_MAX, ExtensionType, RANDOM_BYTES, VERIFY_DATA_BYTES } from './constants.js';
import { assert } from '../../contracts/assert.js';

/** Most extensions accepted in one hello; more is treated as malformed. */
const EXTENSIONS_MAX = 64;
/** Most cipher suites accepted in one ClientHello. */
const CIPHER_SUITES_MAX = 512;

/** One hello extension. */
export interface Extension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** A parsed ClientHello. The byte fields are views into the received message. */
export interface ClientHello {
  readonly version: number;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly cookie: Uint8Array;
  /** The raw cipher_suites vector (cookies are computed over it). */
  readonly cipherSuitesRaw: Uint8Array;
  readonly cipherSuites: readonly number[];
  readonly compressionMethods: Uint8Array;
  readonly extensions: readonly Extension[];
}

/** A parsed ServerHello. */
export interface ServerHello {
  readonly version: number;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly cipherSuite: number;
  readonly compressionMethod: number;
  readonly extensions: readonly Extension[];
}

function readExtensions(reader: ByteReader): Extension[] {
  if (reader.remaining() === 0) return [];
  const block = new ByteReader(reader.vector16());
  const extensions: Extension[] = [];
  while (block.remaining() > 0) {
    const type = block.uint16();
    const data = block.vector16();
    // RFC 5246 §7.4.1.4: at most one extension of each type.
    if (extensions.length >= EXTENSIONS_MAX || extensions.some((e) => e.type === type)) return throwMalformed();
    extensions.push({ type, data });
  }
  return extensions;
}

function throwMalformed(): never {
  throw new DecodeError('malformed handshake message');
}

function extensionsBytes(extensions: readonly Extension[]): number {
  return extensions.reduce((sum, e) => sum + 4 + e.data.length, 0);
}

function writeExtensions(writer: ByteWriter, extensions: readonly Extension[]): void {
  if (extensions.length === 0) return;
  writer.uint16(extensionsBytes(extensions));
  for (const e of extensions) writer.uint16(e.type).vector16(e.data);
}

/** Parses a ClientHello body; null when malformed. */
export function parseClientHello(body: Uint8Array): ClientHello | null {
  return tryDecode(() => {
    const reader = new ByteReader(body);
    const version = reader.uint16();
    const random = reader.bytesView(RANDOM_BYTES);
    const sessionId = reader.vector8(32);
    const cookie = reader.vector8(COOKIE_BYTES_MAX);
    const cipherSuitesRaw = reader.vector16(2 * CIPHER_SUITES_MAX);
    if (cipherSuitesRaw.length === 0 || cipherSuitesRaw.length % 2 !== 0) return throwMalformed();
    const suites = new ByteReader(cipherSuitesRaw);
    const cipherSuites: number[] = [];
    while (suites.remaining() > 0) cipherSuites.push(suites.uint16());
    const compressionMethods = reader.vector8();
    if (compressionMethods.length === 0) return throwMalformed();
    const extensions = readExtensions(reader);
    reader.expectEnd();
    return { version, random, sessionId, cookie, cipherSuitesRaw, cipherSuites, compressionMethods, extensions };
  });
}

/** Encodes a ClientHello body. */
export function encodeClientHello(hello: Omit<ClientHello, 'cipherSuitesRaw'>): Uint8Array {
  assert(hello.random.length === RANDOM_BYTES, 'client random is 32 bytes');
  const extBytes = hello.extensions.length === 0 ? 0 : 2 + extensionsBytes(hello.extensions);
  const size =
    2 +
    RANDOM_BYTES +
    1 +
    hello.sessionId.length +
    1 +
    hello.cookie.length +
    2 +
    2 * hello.cipherSuites.length +
    1 +
    hello.compressionMethods.length +
    extBytes;
  const writer = new ByteWriter(size)
    .uint16(hello.version)
    .raw(hello.random)
    .vector8(hello.sessionId)
    .vector8(hello.cookie)
    .uint16(2 * hello.cipherSuites.length);
  for (const suite of hello.cipherSuites) writer.uint16(suite);
  writer.vector8(hello.compressionMethods);
  writeExtensions(writer, hello.extensions);
  return writer.finish();
}

/** Parses a ServerHello body; null when malformed. */
export function parseServerHello(body: Uint8Array): ServerHello | null {
  return tryDecode(() => {
    const reader = new ByteReader(body);
    const version = reader.uint16();
    const random = reader.bytesView(RANDOM_BYTES);
    const sessionId = reader.vector8(32);
    const cipherSuite = reader.uint16();
    const compressionMethod = reader.uint8();
    const extensions = readExtensions(reader);
    reader.expectEnd();
    return { version, random, sessionId, cipherSuite, compressionMethod, extensions };
  });
}

/** Encodes a ServerHello body (the extensions block is left out when empty). */
export function encodeServerHello(hello: ServerHello): Uint8Array {
  assert(hello.random.length === RANDOM_BYTES, 'server random is 32 bytes');
  const extBytes = hello.extensions.length === 0 ? 0 : 2 + extensionsBytes(hello.extensions);
  const writer = new ByteWriter(2 + RANDOM_BYTES + 1 + hello.sessionId.length + 3 + extBytes)
    .uint16(hello.version)
    .raw(hello.random)
    .vector8(hello.sessionId)
    .uint16(hello.cipherSuite)
    .uint8(hello.compressionMethod);
  writeExtensions(writer, hello.extensions);
  return writer.finish();
}

/** A parsed HelloVerifyRequest. */
export interface HelloVerifyRequest {
  readonly version: number;
  readonly cookie: Uint8Array;
}

/** Parses a HelloVerifyRequest body; null when malformed. */
export function parseHelloVerifyRequest(body: Uint8Array): HelloVerifyRequest | null {
  return tryDecode(() => {
    const reader = new ByteReader(body);
    const version = reader.uint16();
    const cookie = reader.vector8(COOKIE_BYTES_MAX);
    reader.expectEnd();
    return { version, cookie };
  });
}

/** Encodes a HelloVerifyRequest body. */
export function encodeHelloVerifyRequest(version: number, cookie: Uint8Array): Uint8Array {
  assert(cookie.length <= COOKIE_BYTES_MAX, 'cookie within 255 bytes');
  return new ByteWriter(3 + cookie.length).uint16(version).vector8(cookie).finish();
}

/**
 * Parses the body of a PSK ServerKeyExchange or ClientKeyExchange: one opaque<0..2^16-1>
 * (the identity hint or the identity, RFC 4279 §2). Null when malformed or longer than `max`.
 */
export function parsePskIdentity(body: Uint8Array, max: number): Uint8Array | null {
  return tryDecode(() => {
    const reader = new ByteReader(body);
    const identity = reader.vector16(max);
    reader.expectEnd();
    return identity;
  });
}

/** Encodes a PSK identity or identity hint as opaque<0..2^16-1>. */
export function encodePskIdentity(identity: Uint8Array): Uint8Array {
  return new ByteWriter(2 + identity.length).vector16(identity).finish();
}

/** Parses a Finished body; null unless it is exactly 12 bytes. */
export function parseFinished(body: Uint8Array): Uint8Array | null {
  return body.length === VERIFY_DATA_BYTES ? body : null;
}

/** The empty renegotiation_info extension of an initial handshake (RFC 5746 §3.2). */
export const EMPTY_RENEGOTIATION_INFO: Extension = { type: ExtensionType.renegotiationInfo, data: Uint8Array.of(0) };
/** The extended_master_secret extension (RFC 7627 §5.1), always empty. */
export const EXTENDED_MASTER_SECRET: Extension = { type: ExtensionType.extendedMasterSecret, data: new Uint8Array(0) };

/** Finds an extension by type. */
export function findExtension(extensions: readonly Extension[], type: number): Extension | null {
  return extensions.find((e) => e.type === type) ?? null;
}

/**
 * The leading fields of a ClientHello, up to and including the cookie. They fit in the first
 * fragment of any sane ClientHello, so a server can check the cookie, and answer with a
 * HelloVerifyRequest, from that fragment alone, keeping no state for unverified clients even
 * when the hello is fragmented.
 */
export interface ClientHelloPrefix {
  readonly version: number;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly cookie: Uint8Array;
}

/** Parses the prefix of a ClientHello body or first fragment; null when it is cut short. */
export function parseClientHelloPrefix(fragment: Uint8Array): ClientHelloPrefix | null {
  return tryDecode(() => {
    const reader = new ByteReader(fragment);
    const version = reader.uint16();
    const random = reader.bytesView(RANDOM_BYTES);
    const sessionId = reader.vector8(32);
    const cookie = reader.vector8(COOKIE_BYTES_MAX);
    return { version, random, sessionId, cookie };
  });
}
