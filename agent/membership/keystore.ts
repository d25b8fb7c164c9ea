/**
 * This node's link keys (SECURITY.md): the PSK it shares with each peer, one per pair of
 * members. A key comes from, in order:
 *
 * 1. the replicated trust state: a link key wrapped for this node (added or rekeyed members'
 *    links reach existing members this way), opened with this node's secret; or a revocation;
 * 2. the keystore cache, for what this node applied before it last stopped and has not
 *    re-applied yet (agent/trust/keystore-cache.ts);
 * 3. the bundle's keystore file (`psk.keystoreFile`): the links it was provisioned with.
 *
 * A revoked id has no key whatever the bundle says. No key of another pair is ever known here:
 * the bundle lists only this node's links and the log carries only ciphertexts.
 */
import { isValidNodeId } from '../core/configuration.js';
import type { NodeId } from '../../contracts/log.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import { unwrapLinkKey } from '../trust/crypto.js';
import type { CacheEntry, KeystoreCache } from '../trust/keystore-cache.js';
import type { TrustState } from '../trust/trust-state.js';

/** Prefix of every KV key reserved for the agent itself; clients may neither read nor write it. */
export const SYSTEM_KEY_PREFIX = '.coraft/';

/** True when `key` is reserved for the agent (clients may neither read nor write it). */
export function isSystemKey(key: string): boolean {
  return key.startsWith(SYSTEM_KEY_PREFIX);
}

/** What the keystore is given. */
export interface LinkKeystoreOptions {
  readonly nodeId: NodeId;
  readonly cluster: string;
  /** This node's secret (32 bytes), or null when it has none (no key then arrives through the log). */
  readonly nodeSecret: Uint8Array | null;
  /** The links of the bundle: peer id -> PSK. */
  readonly bootstrap: ReadonlyMap<NodeId, Uint8Array>;
}

/** The replicated state the keystore reads: the trust state and how far this node applied. */
export interface ReplicatedView {
  readonly trust: TrustState;
  appliedIndex(): number;
}

export class LinkKeystore {
  private view: ReplicatedView | null = null;
  /** Unwrapping results by ciphertext object (records are immutable); weak, so it never outgrows the state. */
  private readonly opened = new WeakMap<
    Uint8Array,
    { readonly generation: string; readonly peer: NodeId; readonly key: Uint8Array | null }
  >();

  constructor(
    private readonly options: LinkKeystoreOptions,
    private readonly cache: KeystoreCache | null,
    private readonly logger: DiagnosticLogger | null = null,
  ) {}

  /** Connects the keystore to the replicated state. */
  attach(view: ReplicatedView): void {
    this.view = view;
  }

  /** The PSK this node shares with `peer`, or null when it has none or `peer` was revoked. */
  keyOf(peer: string): Uint8Array | null {
    if (!isValidNodeId(peer) || peer === this.options.nodeId) return null;
    const cached = this.cache?.get(peer);
    const view = this.view;
    if (cached !== undefined && (view === null || cached.index > view.appliedIndex()))
      return this.fromCache(peer, cached);
    if (view !== null) {
      if (view.trust.isRevoked(peer)) return null;
      const record = view.trust.linkOf(this.options.nodeId, peer);
      const key = record === null ? null : this.open(peer, record.generation, record.wrapped);
      if (key !== null) return key;
    }
    return this.options.bootstrap.get(peer) ?? null;
  }

  private fromCache(peer: NodeId, entry: CacheEntry): Uint8Array | null {
    switch (entry.kind) {
      case 'revoked':
        return null;
      case 'link':
        return this.open(peer, entry.generation, entry.wrapped) ?? this.options.bootstrap.get(peer) ?? null;
      case 'absent':
        return this.options.bootstrap.get(peer) ?? null;
    }
  }

  private open(peer: NodeId, generation: string, wrapped: Uint8Array): Uint8Array | null {
    const secret = this.options.nodeSecret;
    if (secret === null) return null;
    const known = this.opened.get(wrapped);
    if (known !== undefined && known.peer === peer && known.generation === generation) return known.key;
    const key = unwrapLinkKey(secret, this.options.cluster, this.options.nodeId, peer, generation, wrapped);
    if (key === null)
      this.logger?.warning('a link key wrapped for this node does not open with its node secret (stale bundle?)', {
        node: this.options.nodeId,
        peer,
        generation,
      });
    this.opened.set(wrapped, { peer, generation, key });
    return key;
  }

  /**
   * Records in the cache what the replicated state now says of `peers` (all peers it or the
   * cache names for 'all', after a snapshot), as of the applied index, and saves it.
   */
  remember(peers: readonly NodeId[] | 'all'): void {
    const view = this.view;
    const cache = this.cache;
    if (view === null || cache === null) return;
    const index = view.appliedIndex();
    const self = this.options.nodeId;
    const ids =
      peers === 'all'
        ? new Set([...cache.peers(), ...view.trust.revokedIds(), ...view.trust.linksOf(self).map((l) => l.peer)])
        : new Set(peers);
    let changed = false;
    for (const peer of ids) {
      if (peer === self) continue;
      const previous = cache.get(peer);
      // A snapshot older than what the cache learned must not roll the cache back.
      if (peers === 'all' && previous !== undefined && previous.index > index) continue;
      const record = view.trust.linkOf(self, peer);
      const entry: CacheEntry = view.trust.isRevoked(peer)
        ? { index, kind: 'revoked' }
        : record === null
          ? { index, kind: 'absent' }
          : { index, kind: 'link', generation: record.generation, wrapped: record.wrapped };
      changed = cache.set(peer, entry) || changed;
    }
    if (changed) cache.save();
  }
}
