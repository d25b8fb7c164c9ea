/**
 * A whole response read straight from the datagram (issue 16): the client's receive path reads
 * each datagram with a reused MessageReader, and when it is the one complete response of a
 * request that needs nothing block-wise (no Block2 transfer, Q-Block1 set, 2.31 Continue or
 * 4.13 hint, no critical option the client does not know), it answers from the reader's layout:
 * no option objects, option array or decoded message. Anything else goes the general way
 * (decodeMessage, then ClientExchange.onResponse), which decides exactly as before; the
 * property test in test/transport/coap/client-direct-read.test.ts holds the two paths to one
 * behaviour.
 */
import type { DatagramPeer } from '../datagram.js';
import { KNOWN_RESPONSE_OPTIONS, type ClientExchange, type CoapClientResponse } from './client-exchange.js';
import { tokenIdAt } from './client-types.js';
import { CoapOption, CoapResponseCode, CoapType, codeClassOf, isCriticalOption } from './codes.js';
import type { CoapOptionValue } from './message.js';
import { OptionCursor, type MessageReader } from './message-reader.js';

/** Walks the options of a response asked for them (synchronously, never from inside another walk). */
const OPTIONS_CURSOR = new OptionCursor();

/**
 * A response whose options are read from the datagram when first asked for (a view per option,
 * as decodeMessage gives them): the RPC client never asks. Like every byte field of a response,
 * they are views of the datagram, which the transport does not reuse.
 */
class ReadResponse implements CoapClientResponse {
  private read: readonly CoapOptionValue[] | null = null;

  constructor(
    readonly code: number,
    readonly payload: Uint8Array,
    readonly contentFormat: number | null,
    readonly etag: Uint8Array | null,
    readonly peer: DatagramPeer,
    private readonly bytes: Uint8Array,
    private readonly optionsStart: number,
    private readonly optionsEnd: number,
  ) {}

  /** Every option of the response, in datagram order. */
  get options(): readonly CoapOptionValue[] {
    if (this.read !== null) return this.read;
    const options: CoapOptionValue[] = [];
    const cursor = OPTIONS_CURSOR;
    cursor.reset(this.bytes, this.optionsStart, this.optionsEnd);
    while (cursor.next())
      options.push({ number: cursor.number, value: this.bytes.subarray(cursor.valueStart, cursor.valueEnd) });
    this.read = options;
    return options;
  }
}

/**
 * The complete response that `reader` (a datagram it accepted, matched to a request that awaits
 * its first response message and sends no Q-Block1 set) is, or null when the datagram needs the
 * general path. `cursor` is the client's, free for this read.
 */
export function readWholeResponse(
  reader: MessageReader,
  cursor: OptionCursor,
  peer: DatagramPeer,
): CoapClientResponse | null {
  const code = reader.code;
  if (code === CoapResponseCode.Continue || code === CoapResponseCode.RequestEntityTooLarge) return null;
  let formatSeen = false;
  let contentFormat: number | null = null;
  let etag: Uint8Array | null = null;
  cursor.reset(reader.bytes, reader.optionsStart, reader.optionsEnd);
  while (cursor.next()) {
    const number = cursor.number;
    if (number === CoapOption.Block2) return null;
    if (isCriticalOption(number) && !KNOWN_RESPONSE_OPTIONS.has(number)) return null;
    if (number === CoapOption.ContentFormat && !formatSeen) {
      formatSeen = true;
      contentFormat = cursor.uint(2);
    } else if (number === CoapOption.ETag && etag === null) {
      etag = reader.bytes.subarray(cursor.valueStart, cursor.valueEnd);
    }
  }
  const { bytes, optionsStart, optionsEnd } = reader;
  return new ReadResponse(code, reader.payload(), contentFormat, etag, peer, bytes, optionsStart, optionsEnd);
}

/** The request in `byToken` that the response `reader` holds answers (as onMessage matches); undefined: none. */
export function matchedExchange(
  reader: MessageReader,
  peer: DatagramPeer,
  byToken: ReadonlyMap<number, ClientExchange>,
): ClientExchange | undefined {
  const codeClass = codeClassOf(reader.code);
  if (codeClass < 2 || codeClass > 5 || reader.tokenLength !== 8 || reader.type === CoapType.RST) return undefined;
  const bytes = reader.bytes;
  const exchange = byToken.get(tokenIdAt(bytes, 4));
  if (exchange === undefined || !exchange.isFrom(peer)) return undefined;
  if (reader.type === CoapType.ACK && reader.messageId !== exchange.messageId) return undefined;
  const token = exchange.token;
  for (let i = 0; i < 8; i += 1) if (token[i] !== bytes[4 + i]) return undefined;
  return exchange;
}
