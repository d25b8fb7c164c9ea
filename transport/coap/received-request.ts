/**
 * A request as the server hands it to a handler, read from its datagram by request-parser.ts.
 */
import type { DatagramPeer } from '../datagram.js';
import type { CoapMethod } from './codes.js';
import type { CoapOptionValue } from './message.js';
import { OptionCursor } from './message-reader.js';
import type { CoapRequest } from './request.js';

/**
 * A request read from a datagram, as handlers see it. Its `options` are decoded from the
 * datagram when first read, so a copy made by spreading it has none: make one with
 * `withPayload`.
 */
export class ReceivedRequest implements CoapRequest {
  private decodedOptions: readonly CoapOptionValue[] | null = null;

  constructor(
    readonly method: CoapMethod,
    readonly path: readonly string[],
    readonly query: readonly string[],
    readonly contentFormat: number | null,
    readonly accept: number | null,
    readonly ifMatch: readonly Uint8Array[],
    readonly ifNoneMatch: boolean,
    readonly etags: readonly Uint8Array[],
    readonly observe: number | null,
    readonly payload: Uint8Array,
    readonly token: Uint8Array,
    readonly messageId: number,
    readonly confirmable: boolean,
    readonly peer: DatagramPeer,
    /** Names `peer` in the server's tables (address, port and identity). */
    readonly peerKey: string,
    /** The datagram, and where its options are in it (a range MessageReader.read accepted). */
    private readonly datagram: Uint8Array,
    private readonly optionsStart: number,
    private readonly optionsEnd: number,
  ) {}

  /** Every option of the request message, in the datagram's order. */
  get options(): readonly CoapOptionValue[] {
    if (this.decodedOptions === null) {
      const options: CoapOptionValue[] = [];
      const cursor = new OptionCursor();
      cursor.reset(this.datagram, this.optionsStart, this.optionsEnd);
      while (cursor.next()) options.push({ number: cursor.number, value: cursor.value() });
      this.decodedOptions = options;
    }
    return this.decodedOptions;
  }

  /** This request with another payload (a body reassembled from blocks). */
  withPayload(payload: Uint8Array): ReceivedRequest {
    return new ReceivedRequest(
      this.method,
      this.path,
      this.query,
      this.contentFormat,
      this.accept,
      this.ifMatch,
      this.ifNoneMatch,
      this.etags,
      this.observe,
      payload,
      this.token,
      this.messageId,
      this.confirmable,
      this.peer,
      this.peerKey,
      this.datagram,
      this.optionsStart,
      this.optionsEnd,
    );
  }
}
