/**
 * The address book of a NetworkClient: node id → host and port, replaced as a whole by
 * `setPeers`, with host names resolved to an IP address once per book (datagram transports
 * match responses by the sender's address, so they need the literal).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError, NetworkError } from '../contracts/errors.js';
import { NODE_ID_LENGTH_MAX, type NodeId } from '../contracts/log.js';
import { parsePeerAddress, type PeerAddress } from './rpc-routes.js';

/** Resolves a host name to one IP address literal. */
export type HostResolver = (host: string) => Promise<string>;

/** Resolves with the operating system's resolver (getaddrinfo), first address. */
export const systemResolver: HostResolver = async (host) => (await lookup(host)).address;

interface Entry extends PeerAddress {
  /** The address and port when the host is an IP literal. */
  readonly literal: { readonly address: string; readonly port: number } | null;
  /** The IP literal, once known. */
  resolved: Promise<string> | null;
}

/** Most peers in a book: far beyond any Raft cluster, a bound against a runaway caller. */
export const PEERS_MAX = 1024;

/** Node id → address. */
export class PeerBook {
  private entries = new Map<NodeId, Entry>();

  constructor(private readonly resolver: HostResolver = systemResolver) {}

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
        next.set(member.id, {
          ...parsed,
          literal: isLiteral ? { address: parsed.host, port: parsed.port } : null,
          resolved: isLiteral ? Promise.resolve(parsed.host) : null,
        });
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    this.entries = next;
  }

  /** The IP literal and port of `id` when its address is a literal (no lookup needed), else null. */
  literal(id: NodeId): { readonly address: string; readonly port: number } | null {
    return this.entries.get(id)?.literal ?? null;
  }

  /** The address of `id` as given, or null when unknown. */
  get(id: NodeId): PeerAddress | null {
    return this.entries.get(id) ?? null;
  }

  /** The IP literal and port of `id`; rejects with NET_UNREACHABLE when unknown or unresolvable. */
  async resolve(id: NodeId): Promise<{ readonly address: string; readonly port: number }> {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new NetworkError('NET_UNREACHABLE', `unknown peer ${id}`);
    if (entry.resolved === null) {
      const resolving = this.resolver(entry.host);
      entry.resolved = resolving;
      // A failed lookup is retried on the next request.
      resolving.catch(() => {
        if (entry.resolved === resolving) entry.resolved = null;
      });
    }
    try {
      return { address: await entry.resolved, port: entry.port };
    } catch (error: unknown) {
      throw new NetworkError('NET_UNREACHABLE', `cannot resolve ${entry.host} of peer ${id}`, { cause: error });
    }
  }
}
