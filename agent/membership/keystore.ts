/**
 * The cluster keystore: which PSK each node id authenticates with. It is cluster state: an
 * entry lives in the replicated KV store under a reserved system key (`.coraft/psk/<id>`) that
 * the local endpoint's /kv resources refuse, so it travels through the log, is applied in the
 * same order on every replica and is carried by snapshots. The provisioned keystore file of a
 * node (`psk.keystoreFile`) is the bootstrap: it answers for ids the log has not spoken of yet.
 *
 * An entry's value is the key as lowercase hex, or `revoked`: a removed member's key is
 * replaced by the tombstone so that the bootstrap file cannot bring it back.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { readSecretText } from '../config/secret-files.js';
import { isValidNodeId } from '../core/membership.js';
import type { NodeId } from '../contracts.js';

/** Prefix of every KV key reserved for the agent itself; the /kv endpoint refuses them. */
export const SYSTEM_KEY_PREFIX = '.coraft/';

/** Prefix of the keystore entries in the KV store. */
export const KEYSTORE_KEY_PREFIX = `${SYSTEM_KEY_PREFIX}psk/`;

/** The value of a revoked entry. */
export const REVOKED = 'revoked';

/** Shortest PSK accepted, bytes (also the config loader's minimum). */
export const PSK_BYTES_MIN = 16;

/** Longest PSK accepted, bytes. */
export const PSK_BYTES_MAX = 64;

/** True when `key` is reserved for the agent (clients may neither read nor write it). */
export function isSystemKey(key: string): boolean {
  return key.startsWith(SYSTEM_KEY_PREFIX);
}

/** The KV key of `id`'s keystore entry. */
export function keystoreKey(id: NodeId): string {
  return `${KEYSTORE_KEY_PREFIX}${id}`;
}

/** The node id a KV key is the keystore entry of, or null when it is not one. */
export function idOfKeystoreKey(key: string): NodeId | null {
  if (!key.startsWith(KEYSTORE_KEY_PREFIX)) return null;
  const id = key.slice(KEYSTORE_KEY_PREFIX.length);
  return isValidNodeId(id) ? id : null;
}

/** True when `hex` is a key of PSK_BYTES_MIN to PSK_BYTES_MAX bytes written as hex. */
export function isHexKey(hex: unknown): hex is string {
  return typeof hex === 'string' && hex.length % 2 === 0 && hex.length >= 2 * PSK_BYTES_MIN && hex.length <= 2 * PSK_BYTES_MAX && /^[0-9a-fA-F]+$/.test(hex);
}

/** What the log says of an id: its key, that it was revoked, or nothing. */
export type KeystoreEntry = { readonly kind: 'key'; readonly key: Uint8Array } | { readonly kind: 'revoked' } | { readonly kind: 'absent' };

/** Decodes an entry's stored value (null when the KV store holds none). */
export function decodeKeystoreValue(value: Uint8Array | null): KeystoreEntry {
  if (value === null) return { kind: 'absent' };
  const text = new TextDecoder().decode(value);
  if (text === REVOKED) return { kind: 'revoked' };
  // A value that is neither a key nor the tombstone can only come from a bug; refuse the id.
  if (!isHexKey(text)) return { kind: 'revoked' };
  return { kind: 'key', key: Uint8Array.from(Buffer.from(text, 'hex')) };
}

/** Encodes a key as an entry's stored value. */
export function encodeKeystoreKey(key: Uint8Array): Uint8Array {
  return new TextEncoder().encode(Buffer.from(key).toString('hex'));
}

/** Encodes the tombstone of a revoked key. */
export function encodeKeystoreRevoked(): Uint8Array {
  return new TextEncoder().encode(REVOKED);
}

/** Reads a raw keystore entry value from replicated state; null when absent. */
export type KeystoreReader = (kvKey: string) => Uint8Array | null;

/** Most entries the local cache keeps. */
const CACHE_ENTRIES_MAX = 4096;

/**
 * The keys a node accepts: the replicated entries first, then the local cache of entries this
 * node applied before it last stopped, then the bootstrap file. The cache (a JSON file mode
 * 0600 in the data folder) matters after a restart: until the node has re-applied its log it
 * must still accept a leader that joined after it was provisioned, and refuse revoked keys.
 * Lookups are a map read and a hex decode, cheap enough for every handshake.
 */
export class ClusterKeystore {
  private reader: KeystoreReader = () => null;
  private readonly cache = new Map<NodeId, KeystoreEntry>();

  /** `cacheFile`: where learned entries persist across restarts; null to keep none (memory storage). */
  constructor(
    private readonly bootstrap: ReadonlyMap<NodeId, Uint8Array>,
    private readonly cacheFile: string | null = null,
  ) {
    if (cacheFile === null || !existsSync(cacheFile)) return;
    const stored: unknown = JSON.parse(readSecretText(cacheFile, 'keystore cache'));
    if (typeof stored !== 'object' || stored === null) return;
    for (const [id, value] of Object.entries(stored)) {
      if (isValidNodeId(id) && typeof value === 'string') this.cache.set(id, decodeKeystoreValue(new TextEncoder().encode(value)));
    }
  }

  /** Records the replicated entry of `id` in the local cache (called when it changes). */
  remember(id: NodeId): void {
    const entry = this.replicated(id);
    if (entry.kind === 'absent') return;
    this.cache.delete(id);
    if (this.cache.size >= CACHE_ENTRIES_MAX) return;
    this.cache.set(id, entry);
    if (this.cacheFile === null) return;
    const document: Record<string, string> = {};
    for (const [key, value] of this.cache) document[key] = value.kind === 'key' ? Buffer.from(value.key).toString('hex') : REVOKED;
    const temporary = `${this.cacheFile}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(document)}\n`, { mode: 0o600 });
    renameSync(temporary, this.cacheFile);
  }

  /** Connects the keystore to the replicated state (the KV state machine). */
  attach(reader: KeystoreReader): void {
    this.reader = reader;
  }

  /** The entry of `id` as the log has it. */
  replicated(id: NodeId): KeystoreEntry {
    return decodeKeystoreValue(this.reader(keystoreKey(id)));
  }

  /** The key `id` authenticates with, or null when it has none or it was revoked. */
  keyOf(id: NodeId): Uint8Array | null {
    const entry = this.replicated(id);
    if (entry.kind === 'key') return entry.key;
    if (entry.kind === 'revoked') return null;
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached.kind === 'key' ? cached.key : null;
    return this.bootstrap.get(id) ?? null;
  }
}
