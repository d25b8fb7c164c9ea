/**
 * Which member listens at an address: a DTLS client opens one session per server address and
 * must pick the link key of the member there. Addresses come from the configuration; host
 * names are matched through the addresses the peer transport resolved them to (it resolves
 * before it sends, through `resolver`, which records each answer here).
 */
import { isIP } from 'node:net';
import type { ClusterMember, NodeId } from '../../contracts/log.js';
import { canonicalAddress } from '../../transport/address-family.js';
import { systemResolver, type HostResolver } from '../../transport/peer-book.js';
import { parsePeerAddress } from '../../transport/rpc-routes.js';

/**
 * The members to match addresses against: the replicated configuration's, then the configured
 * (agent.json) members it does not name. A configured address is a hint: once the log records
 * that a member moved, its old address (which may by now be another member's) no longer counts.
 */
export function addressHints(
  replicated: readonly ClusterMember[],
  configured: readonly ClusterMember[],
): ClusterMember[] {
  return [...replicated, ...configured.filter((c) => !replicated.some((m) => m.id === c.id))];
}

/** Most host names remembered. */
const HOSTS_MAX = 1024;

export class PeerAddresses {
  private readonly resolved = new Map<string, string>();

  constructor(private readonly lookup: HostResolver = systemResolver) {}

  /** A resolver for the peer transport that remembers what it answered. */
  readonly resolver: HostResolver = async (host) => {
    const address = await this.lookup(host);
    if (this.resolved.size >= HOSTS_MAX && !this.resolved.has(host)) this.resolved.clear();
    this.resolved.set(host, canonicalAddress(address));
    return address;
  };

  /**
   * The IP literal `host` is known at, in its one form (address-family.ts canonicalAddress, as
   * the peer transport sends to it: 10.0.0.1 for ::ffff:10.0.0.1); a host name as last resolved,
   * or null before it was.
   */
  literalOf(host: string): string | null {
    if (isIP(host) !== 0) return canonicalAddress(host);
    return this.resolved.get(host) ?? null;
  }

  /** The IP literals and ports `members` are known at (host names as resolved so far). */
  literalsOf(members: readonly ClusterMember[]): { readonly address: string; readonly port: number }[] {
    const found: { address: string; port: number }[] = [];
    for (const member of members) {
      const parsed = parsePeerAddress(member.address);
      if (parsed === null) continue;
      const literal = this.literalOf(parsed.host);
      if (literal !== null && !found.some((f) => f.address === literal && f.port === parsed.port))
        found.push({ address: literal, port: parsed.port });
    }
    return found;
  }

  /** The one member of `members` that listens at `address:port`, or null (none, or ambiguous). */
  idAt(address: string, port: number, members: readonly ClusterMember[]): NodeId | null {
    let found: NodeId | null = null;
    for (const member of members) {
      const parsed = parsePeerAddress(member.address);
      if (parsed === null || parsed.port !== port) continue;
      if (this.literalOf(parsed.host) !== canonicalAddress(address)) continue;
      if (found !== null && found !== member.id) return null;
      found = member.id;
    }
    return found;
  }
}
