/**
 * The last AppendEntries with entries that a serializer encoded, with its bytes. A leader sends
 * the same entries to every follower that is up to date, one request each in the same flush
 * (agent/core/replication.ts): the requests differ only in their objects, so the second one is
 * answered with the first one's bytes instead of being checked, sized and written again, which
 * saves a copy of every value per extra follower.
 *
 * A request matches only when every field is equal and every entry is the same object as the one
 * encoded (a LogEntry is never changed once made; the list itself is copied here, so a caller that
 * changes its list afterwards cannot make a different request match). The bytes are shared by
 * every request that matched: callers never write into an encoding (the transport copies it into
 * its datagrams). One request is kept, and only an encoding of at most LAST_APPEND_BYTES_MAX.
 */
import type { LogEntry } from '../contracts/log.js';
import type { AppendEntriesRequest } from '../contracts/messages.js';

/** Largest encoding kept, bytes: one the slab allocator shares (slab-allocator.ts), not one of its own. */
export const LAST_APPEND_BYTES_MAX = 32 * 1024;

/** One encoded AppendEntries and the fields it was encoded from. */
export class LastAppend {
  private term = -1;
  private leaderId = '';
  private prevLogIndex = -1;
  private prevLogTerm = -1;
  private leaderCommit = -1;
  private entries: readonly LogEntry[] = [];
  private bytes: Uint8Array | null = null;

  /** The bytes of the request kept, when `request` matches it (see the file comment); else null. */
  match(request: AppendEntriesRequest): Uint8Array | null {
    const bytes = this.bytes;
    if (bytes === null) return null;
    if (
      request.term !== this.term ||
      request.prevLogIndex !== this.prevLogIndex ||
      request.prevLogTerm !== this.prevLogTerm ||
      request.leaderCommit !== this.leaderCommit ||
      request.leaderId !== this.leaderId
    )
      return null;
    const entries = request.entries;
    const kept = this.entries;
    if (entries.length !== kept.length) return null;
    for (let i = 0; i < entries.length; i += 1) if (entries[i] !== kept[i]) return null;
    return bytes;
  }

  /** Keeps `request` (which encoded to `bytes`) when it has entries and its encoding is small enough. */
  keep(request: AppendEntriesRequest, bytes: Uint8Array): void {
    if (request.entries.length === 0 || bytes.byteLength > LAST_APPEND_BYTES_MAX) return;
    this.term = request.term;
    this.leaderId = request.leaderId;
    this.prevLogIndex = request.prevLogIndex;
    this.prevLogTerm = request.prevLogTerm;
    this.leaderCommit = request.leaderCommit;
    this.entries = request.entries.slice();
    this.bytes = bytes;
  }
}
