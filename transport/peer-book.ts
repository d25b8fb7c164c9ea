/**
 * The address book of a NetworkClient: node id → host and port, replaced as a whole by
 * `setPeers`, with host names resolved to an IP address (datagram transports match responses
 * by the sender's address, so they need the literal). An address is a hint of where a member
 * is reached: a host name is looked up again once its answer is `resolveTtlMs` old, so a
 * gateway whose name moved to a new IP (DHCP) is found there without a configuration change.
 * Addresses are kept in one text each (address-family.ts canonicalAddress: 10.0.0.1 for
 * ::ffff:10.0.0.1, ::1 for 0:0::1), the form the datagram endpoints report peers in.
 */
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ConfigError, NetworkError } from '../contracts/errors.js';
import { NODE_ID_LENGTH_MAX, type NodeId } from '../contracts/log.js';
import { canonicalAddress } from './address-family.js';
import { formatAddress, parsePeerAddress, type PeerAddress } from './rpc-routes.js';

/** Resolves a host name to one IP address literal. */
export type HostResolver = (host: string) => Promise<string>;

/**
 * Resolves with the operating system's resolver (getaddrinfo), first address. node:dns loads
 * on the first host name: a cluster named by IP literals never needs it (about 0.3 MiB and a
 * millisecond of start-up).
 */
export const systemResolver: HostResolver = async (host) =>
  (await (await import('node:dns/promises')).lookup(host)).address;

interface Entry extends PeerAddress {
  /** The address and port when the host is an IP literal. */
  readonly literal: { readonly address: string; readonly port: number } | null;
  /** The IP literal, once known. */
  resolved: Promise<string> | null;
  /** When the lookup behind `resolved` started, on the book's clock. */
  resolvedAtMs: number;
  /** The IP literal it was last known at: its own, or its host name's last answer; null before one. */
  knownAt: string | null;
  /** Its literal is another peer's literal too: no fast path, so that `resolve` refuses it. */
  sharesLiteral: boolean;
}

/** Most peers in a book: far beyond any Raft cluster, a bound against a runaway caller. */
export const PEERS_MAX = 1024;

/** Default age after which a host name's answer is looked up again, ms. */
export const RESOLVE_TTL_MS_DEFAULT = 30_000;

/** Node id → address. */
export class PeerBook {
  private entries = new Map<NodeId, Entry>();

  /** This node's own peer address as its members know it ("host:port"), or null when not given. */
  private readonly own: PeerAddress | null;

  /**
   * `resolveTtlMs`: how old a host name's answer may get before the next request looks it up
   * again, ms (default 30 s; 0 looks up every time); `nowMs`: the clock it is measured on;
   * `ownAddress`: where this node's peer server is reached ("host:port"): a peer known there is
   * this node itself, and is refused as two peers at one place are (default: none).
   */
  constructor(
    private readonly resolver: HostResolver = systemResolver,
    private readonly resolveTtlMs = RESOLVE_TTL_MS_DEFAULT,
    private readonly nowMs: () => number = () => performance.now(),
    ownAddress: string | null = null,
  ) {
    if (!Number.isInteger(resolveTtlMs) || resolveTtlMs < 0) throw new RangeError('resolveTtlMs is a natural number');
    this.own = ownAddress === null ? null : parsePeerAddress(ownAddress);
  }

  /** Replaces the book; throws ConfigError naming every malformed member. */
  set(members: readonly { readonly id: NodeId; readonly address: string }[]): void {
    const problems: string[] = [];
    const next = new Map<NodeId, Entry>();
    if (members.length > PEERS_MAX) problems.push(`at most ${PEERS_MAX} peers, got ${members.length}`);
    for (const member of members) {
      const parsed = parsePeerAddress(member.address);
      if (member.id.length === 0 || member.id.length > NODE_ID_LENGTH_MAX)
        problems.push(`peer id "${member.id}" must have 1..${NODE_ID_LENGTH_MAX} characters`);
      if (parsed === null) problems.push(`peer ${member.id}: address "${member.address}" is not host:port`);
      else {
        const isLiteral = isIP(parsed.host) !== 0;
        // One text per address (::ffff:10.0.0.1 is 10.0.0.1): what the transports send to and compare.
        const literal = isLiteral ? canonicalAddress(parsed.host) : null;
        next.set(member.id, {
          ...parsed,
          literal: literal === null ? null : { address: literal, port: parsed.port },
          resolved: literal === null ? null : Promise.resolve(literal),
          resolvedAtMs: 0,
          knownAt: literal,
          sharesLiteral: false,
        });
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    const byPlace = new Map<string, Entry>();
    const ownPlace = this.own === null ? null : placeKey(this.own.host, this.own.port);
    for (const entry of next.values()) {
      if (entry.literal === null) continue;
      const place = placeKey(entry.literal.address, entry.literal.port);
      const other = byPlace.get(place);
      if (place === ownPlace) entry.sharesLiteral = true;
      if (other === undefined) byPlace.set(place, entry);
      else {
        entry.sharesLiteral = true;
        other.sharesLiteral = true;
      }
    }
    this.entries = next;
  }

  /**
   * The IP literal and port of `id` when its address is a literal (no lookup needed), else null;
   * null too when another peer has the same literal (`resolve` then refuses both).
   */
  literal(id: NodeId): { readonly address: string; readonly port: number } | null {
    const entry = this.entries.get(id);
    return entry === undefined || entry.sharesLiteral ? null : entry.literal;
  }

  /** The address of `id` as given, or null when unknown. */
  get(id: NodeId): PeerAddress | null {
    return this.entries.get(id) ?? null;
  }

  /**
   * The IP literal and port of `id`; rejects with NET_UNREACHABLE when unknown or unresolvable,
   * and with NET_ADDRESS when another peer is known at the same place. A reply counts for the peer the request
   * was sent to, so one process reached for two members (a host name and a literal of one
   * gateway, say) would answer, vote and count toward a quorum for both: neither is reached
   * there until the addresses are told apart.
   */
  async resolve(id: NodeId): Promise<{ readonly address: string; readonly port: number }> {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new NetworkError('NET_UNREACHABLE', `unknown peer ${id}`);
    let address: string;
    try {
      address = await this.lookup(entry);
    } catch (error: unknown) {
      throw new NetworkError('NET_UNREACHABLE', `cannot resolve ${entry.host} of peer ${id}`, { cause: error });
    }
    if (this.isOwnPlace(entry.host, address, entry.port))
      throw new NetworkError(
        'NET_ADDRESS',
        `peer ${id} is reached at ${formatAddress(address, entry.port)}, where this node itself listens: ` +
          'it is not sent to until its address is corrected',
      );
    const place = placeKey(address, entry.port);
    for (const [other, e] of this.entries)
      if (other !== id && e.knownAt !== null && placeKey(e.knownAt, e.port) === place)
        throw new NetworkError(
          'NET_ADDRESS',
          `peers ${id} and ${other} are both reached at ${formatAddress(address, entry.port)}: ` +
            'one process cannot answer for two members, so neither is sent to there until one address is corrected',
        );
    return { address, port: entry.port };
  }

  /**
   * Who is reached at `address` ("host:port"), compared as `resolve` compares (the port, and the
   * IP literal a host name resolves to): this node itself (`self`), a peer of the book, or null
   * (nobody; also when `address` is malformed or its host does not resolve). A peer whose own
   * host does not resolve now is left out. Lets a member be refused before it is placed where
   * the book would refuse to send to it.
   */
  async reachedAt(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null> {
    const parsed = parsePeerAddress(address);
    if (parsed === null) return null;
    let literal: string;
    try {
      literal = isIP(parsed.host) === 0 ? await this.resolver(parsed.host) : parsed.host;
    } catch {
      // A host that does not resolve is reached nowhere: no one is there to refuse it for.
      return null;
    }
    if (this.isOwnPlace(parsed.host, literal, parsed.port)) return { self: true };
    const place = placeKey(literal, parsed.port);
    for (const [id, entry] of this.entries) {
      if (entry.port !== parsed.port) continue;
      const known = await this.lookup(entry).catch(() => null);
      if (known !== null && placeKey(known, entry.port) === place) return { peer: id };
    }
    return null;
  }

  /** The IP literal of `entry`: its own, or its host name's answer (looked up again once resolveTtlMs old). */
  private async lookup(entry: Entry): Promise<string> {
    const now = this.nowMs();
    const stale = entry.literal === null && now - entry.resolvedAtMs >= this.resolveTtlMs;
    if (entry.resolved === null || stale) {
      const resolving = this.resolver(entry.host);
      entry.resolved = resolving;
      entry.resolvedAtMs = now;
      // A failed lookup is retried on the next request.
      resolving.catch(() => {
        if (entry.resolved === resolving) entry.resolved = null;
      });
    }
    const address = canonicalAddress(await entry.resolved);
    entry.knownAt = address;
    return address;
  }

  /** Whether `host` (known at `address`) and `port` are this node's own peer address. */
  private isOwnPlace(host: string, address: string, port: number): boolean {
    const own = this.own;
    if (own === null || own.port !== port) return false;
    return own.host.toLowerCase() === host.toLowerCase() || placeKey(own.host, port) === placeKey(address, port);
  }
}

/**
 * Where `host` (an IP literal or a host name) and `port` are, as a comparable key: an IP literal
 * in its one text (address-family.ts canonicalAddress: `0:0:0:0:0:0:0:1` is `::1`, `::ffff:10.0.0.1`
 * is `10.0.0.1`), a host name without regard to case.
 */
function placeKey(host: string, port: number): string {
  return `${port}/${isIP(host) === 0 ? host.toLowerCase() : canonicalAddress(host)}`;
}
