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
 */
import type { LogEntry } from '../../contracts/log.js';
import { CBOR_OWN_BYTES_MIN } from '../kv/cbor-output.js';
import type { RequestMessage } from '../../contracts/messages.js';

/**
 * Smallest command copied into a buffer of its own, bytes: the leader's bound (kv/cbor-output.ts),
 * so a follower's log and store hold a value as the leader's do.
 */
export const OWN_BUFFER_BYTES_MIN = CBOR_OWN_BYTES_MIN;

/**
 * The entries, each command of at least OWN_BUFFER_BYTES_MIN bytes copied into a buffer of its
 * own and the smaller ones into one shared buffer that holds nothing else.
 */
export function ownEntries(entries: readonly LogEntry[]): readonly LogEntry[] {
  if (entries.length === 0) return entries;
  let sharedBytes = 0;
  for (const entry of entries)
    if (entry.command.byteLength < OWN_BUFFER_BYTES_MIN) sharedBytes += entry.command.byteLength;
  const shared = new Uint8Array(sharedBytes);
  let at = 0;
  return entries.map((entry) => {
    const length = entry.command.byteLength;
    let command: Uint8Array;
    if (length >= OWN_BUFFER_BYTES_MIN) command = entry.command.slice();
    else {
      shared.set(entry.command, at);
      command = shared.subarray(at, at + length);
      at += length;
    }
    return { term: entry.term, index: entry.index, type: entry.type, command };
  });
}

/** `request` with the bytes the node may keep (log entries, a forwarded command) in buffers of their own. */
export function ownRequestBytes(request: RequestMessage): RequestMessage {
  switch (request.type) {
    // Field by field: on Node 20, `{ ...request, entries }` costs about 0.5 us and, once
    // optimized, gives every copy a hidden class of its own (see leaseOf in agent/endpoint/writes.ts).
    case 'AppendEntriesRequest': {
      const { type, term, leaderId, prevLogIndex, prevLogTerm, leaderCommit } = request;
      return { type, term, leaderId, prevLogIndex, prevLogTerm, entries: ownEntries(request.entries), leaderCommit };
    }
    case 'ClientForwardRequest': {
      const { type, sourceId, kind, timeoutMs } = request;
      return { type, sourceId, kind, payload: request.payload.slice(), timeoutMs };
    }
    default:
      return request;
  }
}
