/**
 * The PSK-authenticated MembershipManager: a peer speaks only over a session authenticated
 * with the link key this node shares with it (SECURITY.md). Every pair of members has its own
 * key, so holding one gateway's files authenticates as that gateway and nothing else.
 *
 * - pskLookup (the DTLS and HTTPS-PSK servers) and keyForPeer / keyForAddress (the clients)
 *   answer from the LinkKeystore: replicated wrapped keys, the cache, the bundle.
 * - validateNewNode refuses a malformed id and an id this node shares no link key with (the key
 *   arrives with the signed add-member command, before the configuration change).
 * - authenticateNode refuses a peer the transport did not authenticate, a peer claiming another
 *   id, a peer with no (or a revoked) link key, and a peer outside the latest configuration.
 * - When credentials change (an applied admin entry, a committed removal, a restored snapshot)
 *   the live sessions of the ids concerned are closed on every registered server and client.
 *
 * Refusals are counted, and logged once per peer and reason (again at most once a minute, saying how many
 * were left out: refusal-log.ts; never with a key); they change no Raft state.
 */
import { isMember } from '../core/configuration.js';
import type { ClusterConfiguration, ClusterMember, NodeId } from '../../contracts/log.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { MembershipManager, NodeValidation } from '../../contracts/membership.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { InboundContext } from '../../contracts/network.js';
import { RefusalLog } from './refusal-log.js';
import { DefaultMembershipManager } from './default.js';
import type { LinkKeystore, ReplicatedView } from './keystore.js';
import { addressHints, type PeerAddresses } from '../trust/peer-addresses.js';
import type { HostResolver } from '../../transport/peer-book.js';
import { formatAddress } from '../../transport/rpc-routes.js';

/**
 * Something holding authenticated sessions that can drop those of one identity (a DTLS or HTTPS server, a DTLS client).
 */
export interface SessionCloser {
  closeSessionsOf(identity: string): number;
  /** The identities of its live sessions. */
  sessionIdentities(): readonly string[];
}

/** What the manager needs besides its keystore. */
export interface AuthenticatedMembershipDeps {
  readonly nodeId: NodeId;
  readonly keystore: LinkKeystore;
  readonly logger: DiagnosticLogger;
  readonly metrics: Metrics | null;
  /**
   * Maps a server address to a member, for the DTLS client's key choice. Default: none (keyForAddress answers null).
   */
  readonly addresses?: PeerAddresses;
  /** Most refusals logged per second; the rest are counted, and the next line says how many. Default 10; 1..10000. */
  readonly refusalLogsPerSecondMax?: number;
  /** Clock for the log rate limit, ms. Default Date.now. */
  readonly nowMs?: () => number;
}

/** Most session closers registered. */
const CLOSERS_MAX = 16;

export class AuthenticatedMembershipManager implements MembershipManager {
  private readonly base = new DefaultMembershipManager();
  private readonly closers: SessionCloser[] = [];
  private configuration: () => ClusterConfiguration | null = () => null;
  private bootstrapMembers: readonly ClusterMember[] = [];
  private readonly refusalLogs: RefusalLog;
  /** Refusals are logged here, with their reason (the caller does not log them again). */
  readonly logsRefusals = true;
  /** Handshakes refused by pskLookup (an identity without a link key); the handshake watch logs only the others. */
  private handshakesRefused = 0;

  constructor(private readonly deps: AuthenticatedMembershipDeps) {
    const logsPerSecondMax = deps.refusalLogsPerSecondMax ?? 10;
    if (!Number.isInteger(logsPerSecondMax) || logsPerSecondMax < 1 || logsPerSecondMax > 10_000) {
      throw new RangeError('refusalLogsPerSecondMax must be an integer from 1 to 10000');
    }
    this.refusalLogs = new RefusalLog(deps.nowMs ?? Date.now, logsPerSecondMax);
  }

  /**
   * Connects the manager to the node: `configuration` returns the latest configuration the
   * node knows (null before it starts), its members at the addresses this node reaches them
   * (a moved member where it says it listens: peer-reach.ts), so that the DTLS client picks the
   * link key of a member at its new address; `bootstrapMembers` are the configured members, whose
   * addresses count too; `view` is the replicated trust state the keystore reads.
   */
  attach(
    configuration: () => ClusterConfiguration | null,
    bootstrapMembers: readonly ClusterMember[],
    view: ReplicatedView,
  ): void {
    this.configuration = configuration;
    this.bootstrapMembers = bootstrapMembers;
    this.deps.keystore.attach(view);
  }

  /** The resolver the peer transport should use, so that keyForAddress can match host names; null when none. */
  get resolver(): HostResolver | null {
    return this.deps.addresses?.resolver ?? null;
  }

  /** The IP literal `host` is known at (a host name: as the peer transport last resolved it), or null. */
  literalOf(host: string): string | null {
    return this.deps.addresses?.literalOf(host) ?? null;
  }

  /** The addresses (IP literal and port) at which member `id` is known. */
  addressesOf(id: NodeId): { readonly address: string; readonly port: number }[] {
    const config = this.configuration();
    const members = [...(config?.members ?? []), ...this.bootstrapMembers].filter((m) => m.id === id);
    return this.deps.addresses?.literalsOf(members) ?? [];
  }

  /** Registers something whose sessions are closed when a peer's credentials change. */
  addSessionCloser(closer: SessionCloser): void {
    if (this.closers.length >= CLOSERS_MAX) throw new RangeError(`at most ${CLOSERS_MAX} session closers`);
    this.closers.push(closer);
  }

  /**
   * The PSK to accept for `identity` in a handshake, or null to refuse it; `peer`, where the
   * handshake comes from, goes into the refusal's log line.
   */
  pskLookup(
    identity: string,
    peer: { readonly address: string; readonly port: number } | null = null,
  ): Uint8Array | null {
    const key = this.deps.keystore.keyOf(identity);
    if (key === null) {
      this.handshakesRefused += 1;
      this.refused(
        'handshake',
        identity,
        { identity: null, remote: peer === null ? null : formatAddress(peer.address, peer.port) },
        'no link key for this identity (unknown, removed, or not a peer of this node)',
      );
    }
    return key;
  }

  /**
   * How many handshakes pskLookup refused (an unknown, removed or revoked identity): the DTLS server counts
   * them among its failed authentications too, and they are logged here already (handshake-watch.ts).
   */
  handshakeRefusals(): number {
    return this.handshakesRefused;
  }

  /** The PSK to present to `peer` (this node's link key with it), or null. */
  keyForPeer(peer: NodeId): Uint8Array | null {
    return this.deps.keystore.keyOf(peer);
  }

  /**
   * The PSK to present to the server at `address:port`: the link key of the member there. A
   * member's configured address is a hint: the replicated configuration, which records where a
   * member moved, outranks the agent.json members list, whose address for a member that moved
   * is stale (and may by now be another member's).
   */
  keyForAddress(address: string, port: number): Uint8Array | null {
    const members = addressHints(this.configuration()?.members ?? [], this.bootstrapMembers);
    const id = this.deps.addresses?.idAt(address, port, members) ?? null;
    return id === null ? null : this.keyForPeer(id);
  }

  validateNewNode(node: NodeId, address: string): NodeValidation {
    const basic = this.base.validateNewNode(node, address);
    if (!basic.ok) return basic;
    if (this.deps.keystore.keyOf(node) === null) {
      return {
        ok: false,
        reason:
          `this node shares no link key with ${node}: admit it with a signed add-member carrying its wrapped ` +
          `links (coraft provision --add prints the command)`,
      };
    }
    return { ok: true };
  }

  authenticateNode(claimedId: NodeId, context: InboundContext, requestType?: string): boolean {
    const identity = context.peerIdentity;
    let reason: string | null = null;
    if (identity === null) reason = 'the transport did not authenticate the peer';
    else if (identity !== claimedId) reason = `authenticated as ${identity} but claims to be ${claimedId}`;
    else if (this.deps.keystore.keyOf(identity) === null)
      reason = 'it has no link key with this node (unknown or removed)';
    else {
      const config = this.configuration();
      if (config !== null && !isMember(config, identity)) reason = 'not a member of the cluster';
    }
    if (reason === null) return true;
    const peer = { identity: context.peerIdentity, remote: context.remoteAddress };
    this.refused('rpc', claimedId, peer, reason, requestType);
    return false;
  }

  createJointConfiguration(current: ClusterConfiguration, next: ClusterConfiguration): ClusterConfiguration {
    return this.base.createJointConfiguration(current, next);
  }

  isNodeInConfiguration(node: NodeId, configuration: ClusterConfiguration): boolean {
    return this.base.isNodeInConfiguration(node, configuration);
  }

  handleNodeRemoval(node: NodeId): void {
    if (node === this.deps.nodeId) return;
    const closed = this.closeSessionsOf(node);
    this.deps.logger.info('closed the sessions of a removed member', {
      node: this.deps.nodeId,
      removed: node,
      sessionsClosed: closed,
    });
  }

  /**
   * The replicated credentials of `ids` changed (all of them after a snapshot, or when this
   * node itself was rekeyed): records them in the keystore cache and closes the sessions made
   * with keys that no longer hold.
   */
  onCredentialsChanged(ids: readonly NodeId[] | 'all'): void {
    const all = ids === 'all' || ids.includes(this.deps.nodeId);
    this.deps.keystore.remember(all ? 'all' : ids);
    const targets = all ? this.identitiesWithoutKey() : ids;
    let closed = 0;
    for (const id of targets) closed += this.closeSessionsOf(id);
    if (closed > 0 || !all)
      this.deps.logger.info('link credentials changed', {
        node: this.deps.nodeId,
        ids: all ? 'all' : ids.join(','),
        sessionsClosed: closed,
      });
  }

  /** Identities with live sessions that no longer have a key or a place in the configuration. */
  private identitiesWithoutKey(): string[] {
    const config = this.configuration();
    const live = new Set(this.closers.flatMap((c) => c.sessionIdentities()));
    return [...live].filter(
      (id) => this.deps.keystore.keyOf(id) === null || (config !== null && !isMember(config, id)),
    );
  }

  private closeSessionsOf(id: NodeId): number {
    let closed = 0;
    for (const closer of this.closers) closed += closer.closeSessionsOf(id);
    return closed;
  }

  /**
   * Counts a refusal and logs it once per claimed id, identity and reason (refusal-log.ts; a line says how many
   * were left out before it); `peer` is who was authenticated (if anyone) and from where.
   */
  private refused(
    where: 'handshake' | 'rpc',
    claimed: string,
    peer: { readonly identity: string | null; readonly remote: string | null },
    reason: string,
    requestType?: string,
  ): void {
    this.deps.metrics?.increment('membership_refusals_total', 1, { where });
    const suppressed = this.refusalLogs.take(JSON.stringify([where, claimed.slice(0, 64), peer.identity, reason]));
    if (suppressed === null) return;
    this.deps.logger.warning(`refused a peer ${where}: ${reason}`, {
      node: this.deps.nodeId,
      claimed: claimed.slice(0, 64),
      identity: peer.identity,
      remote: peer.remote,
      ...(requestType === undefined ? {} : { type: requestType }),
      suppressed,
    });
  }
}
