/**
 * Copies of the bytes an inbound request carries into memory the node keeps. The codecs decode
 * byte fields as views into the received message (codec/cbor-serializer.ts), so an entry the
 * follower keeps in its log (and its storage engine's pending records) would otherwise hold the
 * whole datagram or block-wise body it arrived in: the message's headers, the entries the log
 * already had, a reassembly buffer grown to twice the body. A command of at least
 * OWN_BUFFER_BYTES_MIN bytes is copied into a buffer of its own, which the KV store then keeps as
 * its value (kv/store.ts) instead of copying the value again; the smaller commands of one request
 * are copied into one buffer of exactly their bytes (they enter the log together and leave it
 * together, by compaction), so each costs its own bytes and one view.
 *
 * No copy is made when the transport says the message's buffer is its own (InboundContext.bytesOwned:
 * a DTLS record's fresh plaintext, a UDP datagram, a reassembled body) and what the node keeps of
 * it fills at least half of it: the commands of an AppendEntries all in that one buffer, those
 * the log will keep (past its last index) at least half of its bytes; a forwarded command at
 * least half of them. So a kept entry never holds more than twice its share of memory, as the
 * store's rule for values (kv/store.ts), and an append whose entries the follower mostly has
 * already (a retransmission, a probe after a lost answer) is copied as before. A command of
 * OWN_BUFFER_BYTES_MIN bytes or more must also fill half of the buffer by itself, or the store
 * would copy its value out while the log holds the message: the same bytes twice for as long as
 * the entry is in the log. So an append of many small commands (the store copies small values
 * anyway) or of one large one stays as it came, one of several large ones is copied.
 */
import type { LogEntry, LogIndex } from '../../contracts/log.js';
import { CBOR_OWN_BYTES_MIN } from '../kv/cbor-output.js';
import type { RequestMessage } from '../../contracts/messages.js';

/**
 * Smallest command copied into a buffer of its own, bytes: the leader's bound (kv/cbor-output.ts),
 * so a follower's log and store hold a value as the leader's do.
 */
export const OWN_BUFFER_BYTES_MIN = CBOR_OWN_BYTES_MIN;

/**
 * The entries, each command of at least OWN_BUFFER_BYTES_MIN bytes copied into a buffer of its
 * own and the smaller ones into shared buffers that hold nothing else: one for the entries past
 * `lastIndex` (those the log keeps), one for the others (the log has them already; it keeps one
 * only when its term conflicts), so a kept entry never holds the bytes of one the log dropped.
 */
export function ownEntries(entries: readonly LogEntry[], lastIndex: LogIndex): readonly LogEntry[] {
  if (entries.length === 0) return entries;
  let newBytes = 0;
  let oldBytes = 0;
  for (const entry of entries) {
    const length = entry.command.byteLength;
    if (length >= OWN_BUFFER_BYTES_MIN) continue;
    if (entry.index > lastIndex) newBytes += length;
    else oldBytes += length;
  }
  // No shared buffer where there is nothing to share (every command large, as at 4 KiB values).
  const fresh = newBytes === 0 ? NO_COPIES : new SharedCopies(newBytes);
  const old = oldBytes === 0 ? NO_COPIES : new SharedCopies(oldBytes);
  return entries.map((entry) => {
    const length = entry.command.byteLength;
    const command =
      length >= OWN_BUFFER_BYTES_MIN
        ? entry.command.slice()
        : (entry.index > lastIndex ? fresh : old).copy(entry.command);
    return { term: entry.term, index: entry.index, type: entry.type, command };
  });
}

/** One buffer of exactly the bytes of some small commands, filled one copy after the other. */
class SharedCopies {
  private readonly buffer: Uint8Array;
  private at = 0;

  constructor(bytes: number) {
    this.buffer = new Uint8Array(bytes);
  }

  copy(command: Uint8Array): Uint8Array {
    const start = this.at;
    this.buffer.set(command, start);
    this.at += command.byteLength;
    return this.buffer.subarray(start, this.at);
  }
}

/** The copies of empty commands: views of one empty buffer, which holds nothing. */
const NO_COPIES = new SharedCopies(0);

/**
 * Whether the entries of an AppendEntries may stay views of the received message: every command
 * a view of one buffer, of which the commands past `lastIndex` (those the log will keep, when it
 * takes the request) cover at least half, and every command of OWN_BUFFER_BYTES_MIN bytes or more
 * at least half by itself (see the module comment). Entries at or below `lastIndex` that conflict
 * are kept too, in the same buffer, which only adds to what is kept.
 */
export function entriesMayStay(entries: readonly LogEntry[], lastIndex: LogIndex): boolean {
  const first = entries[0];
  if (first === undefined) return true;
  const buffer = first.command.buffer;
  let keptBytes = 0;
  for (const entry of entries) {
    const command = entry.command;
    if (command.buffer !== buffer) return false;
    if (command.byteLength >= OWN_BUFFER_BYTES_MIN && command.byteLength * 2 < buffer.byteLength) return false;
    if (entry.index > lastIndex) keptBytes += command.byteLength;
  }
  return keptBytes * 2 >= buffer.byteLength;
}

/**
 * `request` with the bytes the node may keep (log entries, a forwarded command) in buffers of
 * their own; `lastIndex` is the log's last index. With `bytesOwned` (InboundContext.bytesOwned),
 * bytes that fill at least half of the message's buffer stay as they came (see the module comment).
 */
export function ownRequestBytes(request: RequestMessage, bytesOwned: boolean, lastIndex: LogIndex): RequestMessage {
  switch (request.type) {
    // Field by field: on Node 20, `{ ...request, entries }` costs about 0.5 us and, once
    // optimized, gives every copy a hidden class of its own (see leaseOf in agent/endpoint/writes.ts).
    case 'AppendEntriesRequest': {
      if (bytesOwned && entriesMayStay(request.entries, lastIndex)) return request;
      const { type, term, leaderId, prevLogIndex, prevLogTerm, leaderCommit } = request;
      return {
        type,
        term,
        leaderId,
        prevLogIndex,
        prevLogTerm,
        entries: ownEntries(request.entries, lastIndex),
        leaderCommit,
      };
    }
    case 'ClientForwardRequest': {
      const payload = request.payload;
      if (bytesOwned && payload.byteLength * 2 >= payload.buffer.byteLength) return request;
      const { type, sourceId, kind, timeoutMs } = request;
      return { type, sourceId, kind, payload: payload.slice(), timeoutMs };
    }
    default:
      return request;
  }
}
