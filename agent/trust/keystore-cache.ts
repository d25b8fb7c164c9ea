/**
 * The keystore cache (`<dataDir>/keystore-cache.json`, mode 0600): what this node last applied
 * about each of its links, kept across restarts. After a restart the node re-applies its log
 * only once it hears from a leader; until then the cache lets it accept a leader that joined
 * after it was provisioned (its link key arrived wrapped through the log) and keep refusing a
 * member that was removed, even though its bundle still names it.
 *
 * Each entry records the log index at which the node applied it, so that the replicated state
 * wins again once the node has re-applied that far. The cache holds wrapped keys only (they
 * open with the node secret of the bundle), never a plaintext key.
 *
 * A cache that does not parse is reported, moved aside (`.corrupt`) and rebuilt as entries are
 * applied: it is a cache, so losing it costs at most a slower start, never the node. Like every
 * secret file it is read through secret-files.ts (owner and mode checked) and written durably:
 * synced before it is renamed into place, then its folder synced.
 */
import { existsSync, renameSync } from 'node:fs';
import { isValidNodeId } from '../core/configuration.js';
import type { NodeId } from '../../contracts/log.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import { WRAPPED_LINK_BYTES } from './crypto.js';
import {
  REAL_DURABLE_WRITE_OPS,
  readSecretText,
  writeSecretFile,
  type DurableWriteOps,
} from '../config/secret-files.js';
import { ConfigError, describeError } from '../../contracts/errors.js';

/** Most entries the cache keeps. */
export const CACHE_ENTRIES_MAX = 4096;

/** What the node knew of one peer at `index`. */
export type CacheEntry =
  | { readonly index: number; readonly kind: 'link'; readonly generation: string; readonly wrapped: Uint8Array }
  | { readonly index: number; readonly kind: 'revoked' }
  | { readonly index: number; readonly kind: 'absent' };

const VERSION = 2;

function parseEntry(value: unknown): CacheEntry | null {
  if (typeof value !== 'object' || value === null) return null;
  const index: unknown = Reflect.get(value, 'index');
  const kind: unknown = Reflect.get(value, 'kind');
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) return null;
  if (kind === 'revoked' || kind === 'absent') return { index, kind };
  const generation: unknown = Reflect.get(value, 'generation');
  const wrapped: unknown = Reflect.get(value, 'wrapped');
  if (kind !== 'link' || typeof generation !== 'string' || typeof wrapped !== 'string') return null;
  const bytes = Uint8Array.from(Buffer.from(wrapped, 'base64'));
  return bytes.byteLength === WRAPPED_LINK_BYTES ? { index, kind, generation, wrapped: bytes } : null;
}

/** Parses a cache document; throws Error naming the problem. */
function parseCache(text: string): Map<NodeId, CacheEntry> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Reflect.get(value, 'version') !== VERSION)
    throw new Error(`not a version ${VERSION} keystore cache`);
  const peers: unknown = Reflect.get(value, 'peers');
  if (typeof peers !== 'object' || peers === null) throw new Error('no "peers" object');
  const entries = new Map<NodeId, CacheEntry>();
  for (const [id, raw] of Object.entries(peers)) {
    const entry = parseEntry(raw);
    if (!isValidNodeId(id) || entry === null) throw new Error(`bad entry for ${JSON.stringify(id.slice(0, 64))}`);
    if (entries.size < CACHE_ENTRIES_MAX) entries.set(id, entry);
  }
  return entries;
}

export class KeystoreCache {
  private readonly entries: Map<NodeId, CacheEntry>;

  /** Loads `file` (null: keep nothing on disk, e.g. memory storage); a bad file is reported and set aside. */
  constructor(
    private readonly file: string | null,
    private readonly logger: DiagnosticLogger,
    private readonly ops: DurableWriteOps = REAL_DURABLE_WRITE_OPS,
  ) {
    this.entries = file === null ? new Map<NodeId, CacheEntry>() : this.load(file);
  }

  private load(file: string): Map<NodeId, CacheEntry> {
    if (!existsSync(file)) return new Map<NodeId, CacheEntry>();
    // Its owner and mode are checked like any secret file's: a refused file stops the agent (exit 78).
    const text = readSecretText(file, 'keystore cache');
    try {
      return parseCache(text);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const aside = `${file}.corrupt`;
      renameSync(file, aside);
      this.logger.warning('the keystore cache is unreadable; moved it aside and rebuilding it from the log', {
        file,
        movedTo: aside,
        error: describeError(error),
      });
      return new Map<NodeId, CacheEntry>();
    }
  }

  /** The entry of `peer`, if any. */
  get(peer: NodeId): CacheEntry | undefined {
    return this.entries.get(peer);
  }

  /** Every peer with an entry. */
  peers(): NodeId[] {
    return [...this.entries.keys()];
  }

  /** Records what the node applied about `peer`; false when the cache is full. Call `save` after a batch. */
  set(peer: NodeId, entry: CacheEntry): boolean {
    if (!this.entries.has(peer) && this.entries.size >= CACHE_ENTRIES_MAX) return false;
    this.entries.set(peer, entry);
    return true;
  }

  /** Writes the cache durably (synced before and after the rename). */
  save(): void {
    if (this.file === null) return;
    const peers: Record<string, unknown> = {};
    for (const [id, entry] of this.entries) {
      peers[id] =
        entry.kind === 'link'
          ? {
              index: entry.index,
              kind: entry.kind,
              generation: entry.generation,
              wrapped: Buffer.from(entry.wrapped).toString('base64'),
            }
          : entry;
    }
    writeSecretFile(this.file, `${JSON.stringify({ version: VERSION, peers })}\n`, this.ops);
  }
}
