/**
 * The addresses of a cluster's members as a DTLS server sees them, for
 * `DtlsServerOptions.isMemberAddress`: built from the members' configured peer
 * addresses ("host:port"), replaced whenever the membership changes. IP literals count at
 * once; host names are resolved in the background (until then they count for nothing, which
 * costs a member only the reserved share, not its handshake). IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`, what a dual-stack socket reports) match their IPv4 form.
 */
import { isIP } from 'node:net';
import { parsePeerAddress } from '../rpc-routes.js';

/** Most addresses kept: far beyond any cluster, a bound against a runaway caller. */
export const MEMBER_ADDRESSES_MAX = 4096;

/** Resolves a host name to all its addresses. */
export type HostsResolver = (host: string) => Promise<readonly string[]>;

/** Every address of a host name, from the operating system's resolver (node:dns loads on the first). */
export const systemHostsResolver: HostsResolver = async (host) =>
  (await (await import('node:dns/promises')).lookup(host, { all: true })).map((a) => a.address);

const MAPPED_IPV4_PREFIX = '::ffff:';

/** The form an address is compared in: IPv4-mapped IPv6 becomes IPv4, IPv6 lowercase. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith(MAPPED_IPV4_PREFIX) && isIP(lower.slice(MAPPED_IPV4_PREFIX.length)) === 4)
    return lower.slice(MAPPED_IPV4_PREFIX.length);
  return lower;
}

/** The set of members' addresses; see the module comment. */
export class MemberHosts {
  // Invariant: at most MEMBER_ADDRESSES_MAX addresses, each normalized.
  private addresses = new Set<string>();
  /** Bumped by every `replace`, so a late resolution of an older membership is ignored. */
  private generation = 0;

  constructor(
    private readonly resolve: HostsResolver = systemHostsResolver,
    private readonly onResolveError: (host: string, error: unknown) => void = () => undefined,
  ) {}

  /**
   * Replaces the set with the hosts of `peerAddresses` ("host:port", IPv6 in brackets);
   * malformed ones are skipped (the configuration validates them elsewhere).
   */
  replace(peerAddresses: readonly string[]): void {
    this.generation += 1;
    const generation = this.generation;
    const next = new Set<string>();
    for (const peer of peerAddresses) {
      const parsed = parsePeerAddress(peer);
      if (parsed === null) continue;
      if (isIP(parsed.host) !== 0) this.add(next, parsed.host);
      else void this.resolveLater(parsed.host, generation);
    }
    this.addresses = next;
  }

  /** Whether `address` (as a socket reports it) is a member's. */
  has(address: string): boolean {
    return this.addresses.has(normalizeAddress(address));
  }

  /** How many addresses are known now. */
  get size(): number {
    return this.addresses.size;
  }

  private add(set: Set<string>, address: string): void {
    if (set.size < MEMBER_ADDRESSES_MAX) set.add(normalizeAddress(address));
  }

  private async resolveLater(host: string, generation: number): Promise<void> {
    try {
      const resolved = await this.resolve(host);
      if (generation !== this.generation) return;
      for (const address of resolved) this.add(this.addresses, address);
    } catch (error: unknown) {
      // The host counts for nothing until the next membership change; say why.
      this.onResolveError(host, error);
    }
  }
}
