/**
 * One buffer that joins the pieces of a datagram's body, reused from datagram to datagram, for a
 * sender that reads the joined bytes before it returns (DtlsClientEndpoint.sendParts: the record
 * is sealed, and its message copied, before the send returns). So a body given as pieces (a
 * leader's AppendEntries whose commands are its log's own buffers) costs a copy into memory that
 * is already there, not a new buffer per datagram.
 */
import { assert } from '../../contracts/assert.js';

export class JoinScratch {
  private buffer = new Uint8Array(0);

  /** `bytesMax`: the largest body joined (the endpoint's datagram limit); the buffer never grows past it. */
  constructor(private readonly bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, 'the join limit is a positive number of bytes');
  }

  /**
   * The pieces joined, as a view of the shared buffer that the next call overwrites; undefined
   * when they come to more than bytesMax (the caller refuses the datagram as too large).
   */
  join(pieces: readonly Uint8Array[]): Uint8Array | undefined {
    let bytes = 0;
    for (const piece of pieces) bytes += piece.length;
    if (bytes > this.bytesMax) return undefined;
    if (this.buffer.length < bytes)
      this.buffer = new Uint8Array(Math.min(this.bytesMax, Math.max(bytes, 2 * this.buffer.length)));
    let at = 0;
    for (const piece of pieces) {
      this.buffer.set(piece, at);
      at += piece.length;
    }
    return this.buffer.subarray(0, bytes);
  }
}
