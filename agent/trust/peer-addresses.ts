/**
 * Which member listens at an address: a DTLS client opens one session per server address and
 * must pick the link key of the member there. Addresses come from the configuration; host
 * names are matched through the addresses the peer transport resolved them to (it resolves
 * before it sends, through `resolver`, which records each answer here).
 */
import { isIP } from 'node:net';
import type { ClusterMember, NodeId } from '../../contracts/log.js';
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
    this.resolved.set(host, address);
    return address;
  };

  /** The IP literals and ports `members` are known at (host names as resolved so far). */
  literalsOf(members: readonly ClusterMember[]): { readonly address: string; readonly port: number }[] {
    const found: { address: string; port: number }[] = [];
    for (const member of members) {
      const parsed = parsePeerAddress(member.address);
      if (parsed === null) continue;
      const literal = isIP(parsed.host) !== 0 ? parsed.host : (this.resolved.get(parsed.host) ?? null);
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
      const literal = isIP(parsed.host) !== 0 ? parsed.host : (this.resolved.get(parsed.host) ?? null);
      if (literal !== address) continue;
      if (found !== null && found !== member.id) return null;
      found = member.id;
    }
    return found;
  }
}
