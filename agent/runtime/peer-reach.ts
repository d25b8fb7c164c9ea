/**
 * The node's peer client with its address overrides (agent/membership/address-overrides.ts): the
 * address book the transport gets is the configuration's peers, each reached where its own
 * authenticated RPCs last said it listens until a leader records that in the log. A member that
 * moved and was elected before any leader recorded its address is thus reached by its followers
 * (forwarded writes and reads, votes, leadership transfers) even when the configuration was
 * never logged and each follower's list still comes from its own agent.json.
 */
import type { ClusterConfiguration, ClusterMember, NodeId } from '../../contracts/log.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { NetworkClient } from '../../contracts/network.js';
import type { RequestMessage, ResponseFor } from '../../contracts/messages.js';
import type { MembershipManager } from '../../contracts/membership.js';
import { AddressOverrides, type OverrideChange } from '../membership/address-overrides.js';
import { AuthenticatedMembershipManager } from '../membership/authenticated.js';

/** What the node's RPC traffic tells the book (PeerRpcs): a member's authenticated claim of its address. */
export interface AdvertisedAddresses {
  /** Member `id`, authenticated by the transport as itself, says its peer server listens at `address`. */
  advertised(id: NodeId, address: string): void;
  /** The members this node reaches elsewhere than the configuration says, where it reaches them. */
  overridden(): readonly ClusterMember[];
}

/** A NetworkClient whose book follows the configuration and the members' own claims; see the module comment. */
export class PeerReach implements NetworkClient, AdvertisedAddresses {
  private readonly overrides: AddressOverrides;
  private peers: readonly ClusterMember[] = [];
  readonly wholeRequestBytesMax?: number;

  /** `literalOf`: the IP literal a member's host name was last resolved to (AddressOverrides); default none. */
  constructor(
    private readonly client: NetworkClient,
    private readonly logger: DiagnosticLogger,
    private readonly nodeId: NodeId,
    literalOf?: (host: string) => string | null,
  ) {
    this.overrides = new AddressOverrides(literalOf);
    if (client.wholeRequestBytesMax !== undefined) this.wholeRequestBytesMax = client.wholeRequestBytesMax;
  }

  send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    return this.client.send(target, request, timeoutMs);
  }

  /** The configuration in force names these peers: they replace the book, with the overrides it leaves. */
  setPeers(members: readonly ClusterMember[]): void {
    this.peers = members.map((m) => ({ id: m.id, address: m.address }));
    for (const change of this.overrides.settle(this.peers)) this.report(change);
    this.client.setPeers(this.overrides.apply(this.peers));
  }

  advertised(id: NodeId, address: string): void {
    const change = this.overrides.note(this.peers, id, address);
    if (change === null) return;
    this.report(change);
    this.client.setPeers(this.overrides.apply(this.peers));
  }

  reachedAt(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null> {
    return this.client.reachedAt?.(address) ?? Promise.resolve(null);
  }

  overridden(): readonly ClusterMember[] {
    return this.overrides.apply(this.peers).filter((m) => this.overrides.addressOf(m.id) !== null);
  }

  /** `config` with each member's address where this node reaches it (for the DTLS client's choice of link key). */
  reachable(config: ClusterConfiguration): ClusterConfiguration {
    return this.overrides.size === 0 ? config : { ...config, members: this.overrides.apply(config.members) };
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private report(change: OverrideChange): void {
    if (change.to === null) {
      this.logger.info('reaching a member at its address in the configuration again', {
        node: this.nodeId,
        member: change.member,
        address: change.configured,
      });
      return;
    }
    this.logger.info('a member says it listens elsewhere than the configuration says: reaching it there', {
      node: this.nodeId,
      member: change.member,
      configured: change.configured,
      to: change.to,
    });
  }
}

/** What the membership knows of host names' literals (the PSK-authenticated one resolves them), or none. */
export function hostLiterals(membership: MembershipManager): ((host: string) => string | null) | undefined {
  return membership instanceof AuthenticatedMembershipManager ? (host) => membership.literalOf(host) : undefined;
}
