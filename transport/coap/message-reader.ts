/**
 * Reading a CoAP datagram (RFC 7252 §3) without allocating: a {@link MessageReader} checks the
 * whole datagram and records where its token, options and payload are; an
 * {@link OptionCursor} then walks the options it checked, one at a time, as numbers and
 * offsets into the datagram. The server's receive path reuses one of each for every datagram,
 * so a request costs no option objects, arrays or views until a handler asks for them;
 * decodeMessage (message.ts) builds a whole CoapMessage on top of them for everyone else.
 *
 * The checks and their order are decodeMessage's (the property tests hold the two to one
 * behaviour): a datagram either reads completely or is refused with the same reason.
 */
import { CoapType } from './codes.js';

/** The longest token of RFC 7252 (RFC 8974 extended tokens are not supported). */
export const TOKEN_BYTES_MAX = 8;
/** The largest option number the option delta encoding can express here. */
export const OPTION_NUMBER_MAX = 65535;
/** The longest option value the length encoding can express. */
export const OPTION_VALUE_BYTES_MAX = 65804;

const PAYLOAD_MARKER = 0xff;
const EMPTY = new Uint8Array(0);
const TYPES: readonly CoapType[] = [CoapType.CON, CoapType.NON, CoapType.ACK, CoapType.RST];

/** Why the options of a datagram do not read, by the negative code scanOptions returns. */
const OPTION_ERRORS: readonly string[] = [
  '',
  'payload marker without payload',
  'bad option delta',
  'bad option length',
  'option number too large',
  'option value runs past the end',
];

/**
 * The header and layout of one datagram. After `read` returns true every field describes
 * `bytes`; after it returns false `reason` says what is wrong, and `headerReadable` whether
 * `type` and `messageId` are the datagram's (a malformed CON is answered with RST, RFC 7252
 * §4.2; otherwise the datagram is silently dropped).
 */
export class MessageReader {
  /** The datagram last read. */
  bytes: Uint8Array = EMPTY;
  type: CoapType = CoapType.CON;
  /** The code byte; 0 (0.00) for an Empty message. */
  code = 0;
  /** 0..65535. */
  messageId = 0;
  /** 0..8; the token is bytes[4, 4 + tokenLength). */
  tokenLength = 0;
  /** Where the options start: just after the token. */
  optionsStart = 0;
  /** Where the options end: at the payload marker, or at the end of the datagram. */
  optionsEnd = 0;
  /** Where the payload starts; bytes.length when there is none. */
  payloadStart = 0;
  /** What is wrong with the datagram last refused; '' after a datagram that read. */
  reason = '';
  /** Whether `type` and `messageId` were read from the datagram (false also after success: see `reason`). */
  headerReadable = false;

  /** Checks `bytes` completely and records its layout; false when it is malformed. Never throws. */
  read(bytes: Uint8Array): boolean {
    this.bytes = bytes;
    this.reason = '';
    this.headerReadable = false;
    if (bytes.length < 4) return this.refuse('shorter than the 4-byte header');
    const first = bytes[0] ?? 0;
    // RFC 7252 §3: messages with an unknown version number are silently ignored.
    if (first >>> 6 !== 1) return this.refuse('unknown version');
    this.type = TYPES[(first >>> 4) & 0x03] ?? CoapType.RST;
    this.code = bytes[1] ?? 0;
    this.messageId = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
    this.headerReadable = true;
    const tokenLength = first & 0x0f;
    this.tokenLength = tokenLength;
    if (tokenLength > TOKEN_BYTES_MAX) return this.refuse('token length 9..15 is reserved');
    if (this.code === 0) {
      // RFC 7252 §4.1: an Empty message has no token, options or payload.
      if (bytes.length !== 4 || tokenLength !== 0) return this.refuse('empty message with content');
      return this.layout(4, 4, 4);
    }
    if (4 + tokenLength > bytes.length) return this.refuse('token runs past the end');
    const start = 4 + tokenLength;
    const end = scanOptions(bytes, start);
    if (end < 0) return this.refuse(OPTION_ERRORS[-end] ?? 'bad option');
    return this.layout(start, end, end < bytes.length ? end + 1 : end);
  }

  /** The token, a view of the datagram. */
  token(): Uint8Array {
    return this.tokenLength === 0 ? EMPTY : this.bytes.subarray(4, 4 + this.tokenLength);
  }

  /** The payload, a view of the datagram (a shared empty array when there is none). */
  payload(): Uint8Array {
    return this.payloadStart < this.bytes.length ? this.bytes.subarray(this.payloadStart) : EMPTY;
  }

  private layout(optionsStart: number, optionsEnd: number, payloadStart: number): true {
    this.optionsStart = optionsStart;
    this.optionsEnd = optionsEnd;
    this.payloadStart = payloadStart;
    return true;
  }

  private refuse(reason: string): false {
    this.reason = reason;
    return false;
  }
}

/**
 * Walks options that a MessageReader has checked: after `next` returns true, `number` is the
 * option's number and its value is bytes[valueStart, valueEnd). Repeated options come in
 * their order in the datagram, which is ascending by number.
 */
export class OptionCursor {
  number = 0;
  valueStart = 0;
  valueEnd = 0;
  private bytes: Uint8Array = EMPTY;
  private at = 0;
  private end = 0;

  /** Starts before the first option of `bytes[start, end)`, a range MessageReader.read accepted. */
  reset(bytes: Uint8Array, start: number, end: number): void {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    this.number = 0;
    this.valueStart = start;
    this.valueEnd = start;
  }

  /** Moves to the next option; false after the last. */
  next(): boolean {
    if (this.at >= this.end) return false;
    const bytes = this.bytes;
    const byte = bytes[this.at] ?? 0;
    let at = this.at + 1;
    const delta = extendedValue(bytes, at, byte >>> 4);
    at += extensionBytes(byte >>> 4);
    const length = extendedValue(bytes, at, byte & 0x0f);
    at += extensionBytes(byte & 0x0f);
    this.number += delta;
    this.valueStart = at;
    this.valueEnd = at + length;
    this.at = at + length;
    return true;
  }

  /** The value's length in bytes. */
  get valueLength(): number {
    return this.valueEnd - this.valueStart;
  }

  /** The value as an unsigned integer (RFC 7252 §3.2); null when longer than `bytesMax`. */
  uint(bytesMax: number): number | null {
    if (this.valueEnd - this.valueStart > bytesMax) return null;
    let result = 0;
    for (let i = this.valueStart; i < this.valueEnd; i += 1) result = result * 256 + (this.bytes[i] ?? 0);
    return result;
  }

  /** The value, a view of the datagram. */
  value(): Uint8Array {
    return this.valueStart === this.valueEnd ? EMPTY : this.bytes.subarray(this.valueStart, this.valueEnd);
  }
}

/**
 * Checks the options from `start`: the offset where they end (the payload marker, or the end
 * of `bytes`), or the negated index of what is wrong in OPTION_ERRORS.
 */
function scanOptions(bytes: Uint8Array, start: number): number {
  let at = start;
  let number = 0;
  while (at < bytes.length) {
    const byte = bytes[at] ?? 0;
    if (byte === PAYLOAD_MARKER) {
      // RFC 7252 §3: a marker followed by a zero-length payload is a format error.
      return at + 1 >= bytes.length ? -1 : at;
    }
    at += 1;
    const delta = readExtended(bytes, at, byte >>> 4);
    if (delta < 0) return -2;
    at += extensionBytes(byte >>> 4);
    const length = readExtended(bytes, at, byte & 0x0f);
    if (length < 0) return -3;
    at += extensionBytes(byte & 0x0f);
    number += delta;
    if (number > OPTION_NUMBER_MAX) return -4;
    if (at + length > bytes.length) return -5;
    at += length;
  }
  return at;
}

/** Reads a 4-bit delta or length nibble with its extension; -1 on 15 or truncation. */
function readExtended(bytes: Uint8Array, at: number, nibble: number): number {
  if (nibble < 13) return nibble;
  if (nibble === 13) return at < bytes.length ? (bytes[at] ?? 0) + 13 : -1;
  if (nibble === 14) return at + 1 < bytes.length ? (((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0)) + 269 : -1;
  return -1;
}

/** readExtended of options already checked. */
function extendedValue(bytes: Uint8Array, at: number, nibble: number): number {
  if (nibble < 13) return nibble;
  if (nibble === 13) return (bytes[at] ?? 0) + 13;
  return (((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0)) + 269;
}

/** How many extension bytes follow a nibble (13: one, 14: two). */
function extensionBytes(nibble: number): number {
  return nibble < 13 ? 0 : nibble === 13 ? 1 : 2;
}
