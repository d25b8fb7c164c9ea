/**
 * The replicated trust state: what every member agrees on about credentials, changed only by
 * committed log entries and identical on every replica (SECURITY.md).
 *
 * - Wrapped link keys: for each (holder, peer), the link key wrapped under the holder's node
 *   secret. Only ciphertexts are replicated; each member opens only those it holds.
 * - Revoked ids: members removed by a committed configuration; their links are deleted and no
 *   member accepts them until a signed add-member admits them again, with new keys: links of a
 *   newer generation of the member's end than any it held when it was removed, for every member
 *   (a holder without one would fall back to its bundle's copy, the revoked key).
 * - The admin public key once rotated (before that, the genesis key of the configuration).
 * - The nonces of applied admin commands that have not expired yet, against replay.
 * - The members of the last configuration applied, to see who a new one removes.
 * - The log clock: the largest entry time applied; expiry is judged against it, so every
 *   replica judges alike.
 *
 * `applyAdmin` verifies a signed command again (signature, cluster, expiry, nonce) and applies
 * it or refuses it; the same entry gives the same outcome on every replica.
 */
import type { KeyObject } from 'node:crypto';
import { allMembers } from '../core/configuration.js';
import type { ClusterConfiguration, NodeId } from '../../contracts/log.js';
import { admissionProblem, generationInRange, publicKeyFromText, type SignedAdminCommand } from './admin-command.js';

/** Most wrapped links held (64 members, each linked to every other). */
export const LINKS_MAX = 64 * 64;
/** Most revoked ids remembered; the oldest is forgotten first. */
export const REVOKED_MAX = 1024;
/** Most unexpired admin nonces; a command that would exceed it is refused until some expire. */
export const NONCES_MAX = 4096;
/** Most members remembered from the last configuration. */
export const KNOWN_MAX = 1024;

/** A wrapped link key as replicated. */
export interface LinkRecord {
  readonly holder: NodeId;
  readonly peer: NodeId;
  readonly generation: string;
  readonly wrapped: Uint8Array;
}

/** The outcome of applying an admin command. */
export type AdminOutcome =
  { readonly ok: true; readonly changed: readonly NodeId[] } | { readonly ok: false; readonly reason: string };

/** What the state is compared against when it applies an admin command. */
export interface TrustContext {
  readonly cluster: string;
  /** The admin public key of the configuration (in force until a rotation is applied). */
  readonly genesisAdminKey: KeyObject | null;
}

/** Everything the state holds, in its canonical order (for snapshots). */
export interface TrustImage {
  readonly clockMs: number;
  readonly adminKeyPem: string | null;
  readonly known: readonly NodeId[];
  readonly revoked: readonly NodeId[];
  /** The revoked ids whose newest key generation was above 1 then, sorted by id (absent: 1). */
  readonly revokedGenerations: readonly (readonly [NodeId, number])[];
  readonly links: readonly LinkRecord[];
  readonly nonces: readonly (readonly [string, number])[];
}

const linkId = (holder: NodeId, peer: NodeId): string => `${holder}\u0000${peer}`;

export class TrustState {
  /** Invariant: never decreases. */
  private clock = 0;
  private adminKeyPem: string | null = null;
  private adminKeyCache: { readonly pem: string; readonly key: KeyObject | null } | null = null;
  private known: Set<NodeId>;
  /** Insertion order is revocation order: the oldest is forgotten first. Invariant: size <= REVOKED_MAX. */
  private readonly revoked = new Set<NodeId>();
  /** The newest key generation of a revoked id, when above 1. Invariant: every key is in `revoked`. */
  private readonly revokedGenerations = new Map<NodeId, number>();
  /** Invariant: size <= LINKS_MAX. */
  private readonly links = new Map<string, LinkRecord>();
  /** Invariant: size <= NONCES_MAX. */
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly context: TrustContext,
    genesisMembers: readonly NodeId[],
  ) {
    this.known = new Set(genesisMembers.slice(0, KNOWN_MAX));
  }

  /** The log clock, ms. */
  get clockMs(): number {
    return this.clock;
  }

  /** Moves the log clock forward to `timeMs` (never back). */
  advanceClock(timeMs: number): void {
    if (Number.isSafeInteger(timeMs) && timeMs > this.clock) this.clock = timeMs;
  }

  /** The admin key in force: the rotated one, else the genesis one. */
  adminKey(): KeyObject | null {
    if (this.adminKeyPem === null) return this.context.genesisAdminKey;
    if (this.adminKeyCache?.pem !== this.adminKeyPem)
      this.adminKeyCache = { pem: this.adminKeyPem, key: publicKeyFromText(this.adminKeyPem) };
    return this.adminKeyCache.key;
  }

  /** The wrapped key `holder` holds for its link with `peer`, or null. */
  linkOf(holder: NodeId, peer: NodeId): LinkRecord | null {
    return this.links.get(linkId(holder, peer)) ?? null;
  }

  /** Every wrapped key `holder` holds. */
  linksOf(holder: NodeId): LinkRecord[] {
    return [...this.links.values()].filter((l) => l.holder === holder);
  }

  /** True when `id` was removed and not admitted again since. */
  isRevoked(id: NodeId): boolean {
    return this.revoked.has(id);
  }

  /** The revoked ids, oldest first. */
  revokedIds(): NodeId[] {
    return [...this.revoked];
  }

  /** True when an unexpired applied command used `nonce`. */
  nonceSeen(nonce: string): boolean {
    const expires = this.nonces.get(nonce);
    return expires !== undefined && expires > this.clock;
  }

  /**
   * Verifies and applies a logged admin command carried by an entry stamped `entryTimeMs`.
   * Returns the ids whose credentials changed (their sessions must be closed), or why it was
   * refused; a refused command changes nothing but the clock.
   */
  applyAdmin(command: SignedAdminCommand, entryTimeMs: number): AdminOutcome {
    this.advanceClock(entryTimeMs);
    const problem =
      admissionProblem(command, this.context.cluster, this.adminKey(), this.clock) ??
      this.nonceProblem(command.body.nonce);
    if (problem !== null) return { ok: false, reason: problem };
    const body = command.body;
    switch (body.op) {
      case 'add-member':
      case 'rekey-member': {
        const links = body.links.filter((l) => l.holder !== body.id);
        if (links.length !== body.links.length)
          return { ok: false, reason: `${body.id} cannot hold a link with itself` };
        if (!links.every((l) => generationInRange(l.generation)))
          return { ok: false, reason: 'a link generation is out of range' };
        if (body.op === 'add-member' && this.revoked.has(body.id)) {
          const stale = this.readmissionProblem(body.id, links);
          if (stale !== null) return { ok: false, reason: stale };
        }
        const fresh = links.filter((l) => !this.links.has(linkId(l.holder, body.id))).length;
        if (this.links.size + fresh > LINKS_MAX)
          return { ok: false, reason: `the trust state holds ${LINKS_MAX} links already` };
        this.recordNonce(body.nonce, body.expiresAtMs);
        // A rekeyed member's own side comes from its new bundle: the old wrapped keys go.
        if (body.op === 'rekey-member') this.deleteLinks((l) => l.holder === body.id);
        for (const l of links)
          this.links.set(linkId(l.holder, body.id), {
            holder: l.holder,
            peer: body.id,
            generation: l.generation,
            wrapped: Uint8Array.from(l.wrapped),
          });
        if (body.op === 'add-member') this.forgetRevocation(body.id);
        return { ok: true, changed: [body.id] };
      }
      case 'remove-member':
        // Authorizes the removal; the links go when the configuration without the member commits.
        this.recordNonce(body.nonce, body.expiresAtMs);
        return { ok: true, changed: [] };
      case 'set-admin-key':
        this.recordNonce(body.nonce, body.expiresAtMs);
        this.adminKeyPem = body.publicKey;
        return { ok: true, changed: [] };
      default:
        return { ok: false, reason: `${body.op} does not travel through the log` };
    }
  }

  /**
   * Applies a committed configuration: every member of the previous one that it no longer
   * names is revoked and its links deleted. Returns the removed ids.
   */
  applyConfiguration(configuration: ClusterConfiguration): NodeId[] {
    const next = new Set(allMembers(configuration).slice(0, KNOWN_MAX));
    const removed = [...this.known].filter((id) => !next.has(id)).sort();
    for (const id of removed) {
      const generation = this.newestGeneration(id);
      this.forgetRevocation(id);
      if (this.revoked.size >= REVOKED_MAX) {
        const oldest = this.revoked.values().next();
        if (oldest.done !== true) this.forgetRevocation(oldest.value);
      }
      this.revoked.add(id);
      if (generation > 1) this.revokedGenerations.set(id, generation);
      this.deleteLinks((l) => l.holder === id || l.peer === id);
    }
    this.known = next;
    return removed;
  }

  /** The newest generation of `id`'s end among the links recorded for it; 1 (its bundle's) when none. */
  private newestGeneration(id: NodeId): number {
    let newest = 1;
    for (const link of this.links.values()) {
      if (link.peer === id) newest = Math.max(newest, endGeneration(link.generation, id, link.holder));
      if (link.holder === id) newest = Math.max(newest, endGeneration(link.generation, id, link.peer));
    }
    return newest;
  }

  /**
   * Why revoked `id` may not come back with `links`, or null: each must be of a newer generation
   * of its end than it held when removed, and every member must get one, or the revoked keys
   * (a member's bundle copy, the removed gateway's files) would work again.
   */
  private readmissionProblem(id: NodeId, links: readonly { holder: NodeId; generation: string }[]): string | null {
    const revoked = this.revokedGenerations.get(id) ?? 1;
    // Short enough for a diagnostic payload (responses.ts): the operator reads it as the refusal.
    if (links.some((l) => endGeneration(l.generation, id, l.holder) <= revoked))
      return (
        `${id} was removed with key generation ${revoked}: give it new keys first (coraft provision --rekey ${id}), ` +
        'install its new bundle, then add it with the new links file'
      );
    const missing = [...this.known].filter((m) => m !== id && !links.some((l) => l.holder === m));
    if (missing.length > 0)
      return `${id} was removed: its new links must reach every member (none for ${missing.join(', ')})`;
    return null;
  }

  private forgetRevocation(id: NodeId): void {
    this.revoked.delete(id);
    this.revokedGenerations.delete(id);
  }

  private deleteLinks(match: (link: LinkRecord) => boolean): void {
    for (const [key, link] of this.links) if (match(link)) this.links.delete(key);
  }

  private nonceProblem(nonce: string): string | null {
    if (this.nonceSeen(nonce)) return 'it was applied already (replayed nonce)';
    for (const [seen, expires] of this.nonces) if (expires <= this.clock) this.nonces.delete(seen);
    if (this.nonces.size >= NONCES_MAX)
      return `${NONCES_MAX} admin commands are still unexpired; retry after some expire`;
    return null;
  }

  private recordNonce(nonce: string, expiresAtMs: number): void {
    this.nonces.set(nonce, expiresAtMs);
  }

  /** The whole state in canonical order. */
  image(): TrustImage {
    const links = [...this.links.values()].sort((a, b) =>
      a.holder === b.holder ? compare(a.peer, b.peer) : compare(a.holder, b.holder),
    );
    const nonces = [...this.nonces].filter(([, expires]) => expires > this.clock).sort((a, b) => compare(a[0], b[0]));
    return {
      clockMs: this.clock,
      adminKeyPem: this.adminKeyPem,
      known: [...this.known].sort(),
      revoked: [...this.revoked],
      revokedGenerations: [...this.revokedGenerations].sort((a, b) => compare(a[0], b[0])),
      links,
      nonces,
    };
  }

  /** Replaces the whole state with an image's. */
  load(image: TrustImage): void {
    this.clock = image.clockMs;
    this.adminKeyPem = image.adminKeyPem;
    this.known = new Set(image.known);
    this.revoked.clear();
    for (const id of image.revoked) this.revoked.add(id);
    this.revokedGenerations.clear();
    for (const [id, generation] of image.revokedGenerations)
      if (this.revoked.has(id)) this.revokedGenerations.set(id, generation);
    this.links.clear();
    for (const link of image.links) this.links.set(linkId(link.holder, link.peer), link);
    this.nonces.clear();
    for (const [nonce, expires] of image.nonces) this.nonces.set(nonce, expires);
  }
}

/** The generation of `id`'s end of its link with `other`, from the link's label (crypto.ts linkGeneration). */
function endGeneration(label: string, id: NodeId, other: NodeId): number {
  const [low, high] = label.split('.').map(Number);
  return (id < other ? low : high) ?? 1;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
