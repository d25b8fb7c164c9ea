/**
 * The PSK-authenticated MembershipManager (fleet issue): only gateways holding a key the
 * cluster knows may join or speak.
 *
 * - validateNewNode refuses a malformed id and an id with no key in the cluster keystore (the
 *   key is committed first: `coraft members add ID ADDRESS --psk-file F`).
 * - authenticateNode refuses a peer the transport did not authenticate (peerIdentity null), a
 *   peer claiming another's id, a peer whose key is unknown or revoked, and a peer that is not
 *   in the latest configuration the node knows (which includes a learner being added, since
 *   its configuration entry reaches the log before the leader contacts it).
 * - handleNodeRemoval revokes the removed node at once on this replica: its next handshakes
 *   are refused and its DTLS sessions are closed. The leader also commits a tombstone for its
 *   key (see the admin runtime), so the revocation is cluster state and survives restarts.
 *
 * Refusals are logged (rate-limited, never with a key) and counted; they change no Raft state.
 */
import { decodeKvCommand } from '../kv/index.js';
import { isMember, isValidNodeId } from '../core/membership.js';
import { SerializationError } from '../errors.js';
import type { ClusterConfiguration, DiagnosticLogger, InboundContext, LogEntry, MembershipManager, Metrics, NodeId, NodeValidation } from '../contracts.js';
import { DefaultMembershipManager } from './default.js';
import { idOfKeystoreKey, type ClusterKeystore, type KeystoreReader } from './keystore.js';

/** Something holding authenticated sessions that can drop those of one identity (a DTLS server). */
export interface SessionCloser {
  closeSessionsOf(identity: string): number;
}

/** What the manager needs besides its keystore. */
export interface AuthenticatedMembershipDeps {
  readonly nodeId: NodeId;
  readonly keystore: ClusterKeystore;
  readonly logger: DiagnosticLogger;
  readonly metrics: Metrics | null;
  /** Most refusals logged per second; the rest are only counted. Default 10; 1..10000. */
  readonly refusalLogsPerSecondMax?: number;
  /** Clock for the log rate limit, ms. Default Date.now. */
  readonly nowMs?: () => number;
}

/** Most ids remembered as revoked in this process (the tombstones in the log are the durable record). */
const REVOKED_MAX = 4096;

export class AuthenticatedMembershipManager implements MembershipManager {
  private readonly base = new DefaultMembershipManager();
  private readonly revoked = new Set<NodeId>();
  private readonly servers: SessionCloser[] = [];
  private configuration: () => ClusterConfiguration | null = () => null;
  private readonly logsPerSecondMax: number;
  private readonly nowMs: () => number;
  private logWindowStartMs = 0;
  private logsInWindow = 0;

  constructor(private readonly deps: AuthenticatedMembershipDeps) {
    this.logsPerSecondMax = deps.refusalLogsPerSecondMax ?? 10;
    if (!Number.isInteger(this.logsPerSecondMax) || this.logsPerSecondMax < 1 || this.logsPerSecondMax > 10_000) {
      throw new RangeError('refusalLogsPerSecondMax must be an integer from 1 to 10000');
    }
    this.nowMs = deps.nowMs ?? Date.now;
  }

  /**
   * Connects the manager to the node: `configuration` returns the latest configuration the
   * node knows (null before it starts), `readEntry` reads a KV key from the applied state.
   */
  attach(configuration: () => ClusterConfiguration | null, readEntry: KeystoreReader): void {
    this.configuration = configuration;
    this.deps.keystore.attach(readEntry);
  }

  /** Registers a server whose sessions are closed when a key is revoked or rotated. */
  addSessionCloser(server: SessionCloser): void {
    if (this.servers.length >= 16) throw new RangeError('at most 16 session closers');
    this.servers.push(server);
  }

  /** The PSK to accept for `identity` in a handshake, or null to refuse it. */
  pskLookup(identity: string): Uint8Array | null {
    const key = isValidNodeId(identity) && !this.revoked.has(identity) ? this.deps.keystore.keyOf(identity) : null;
    if (key === null) this.refused('handshake', identity, null, 'unknown or revoked identity');
    return key;
  }

  validateNewNode(node: NodeId, address: string): NodeValidation {
    const basic = this.base.validateNewNode(node, address);
    if (!basic.ok) return basic;
    if (this.revoked.has(node) || this.deps.keystore.keyOf(node) === null) {
      return { ok: false, reason: `no key for ${node} in the cluster keystore (add it with --psk-file)` };
    }
    return { ok: true };
  }

  authenticateNode(claimedId: NodeId, context: InboundContext): boolean {
    const identity = context.peerIdentity;
    let reason: string | null = null;
    if (identity === null) reason = 'the transport did not authenticate the peer';
    else if (identity !== claimedId) reason = `authenticated as ${identity} but claims to be ${claimedId}`;
    else if (this.revoked.has(identity) || this.deps.keystore.keyOf(identity) === null) reason = 'its key is unknown or revoked';
    else {
      const config = this.configuration();
      if (config !== null && !isMember(config, identity)) reason = 'not a member of the cluster';
    }
    if (reason === null) return true;
    this.refused('rpc', claimedId, context, reason);
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
    if (this.revoked.size >= REVOKED_MAX) {
      const oldest = this.revoked.values().next();
      if (oldest.done !== true) this.revoked.delete(oldest.value);
    }
    this.revoked.add(node);
    const closed = this.closeSessionsOf(node);
    this.deps.logger.info('revoked the key of a removed member', { node: this.deps.nodeId, removed: node, sessionsClosed: closed });
  }

  /**
   * Called after every applied entry: a write to a keystore entry (a new, rotated or revoked
   * key) closes the sessions of that id, so the old key stops working now.
   */
  onApplied(entry: LogEntry): void {
    if (entry.type !== 'command') return;
    let key: string;
    try {
      key = decodeKvCommand(entry.command).key;
    } catch (error) {
      if (error instanceof SerializationError) return;
      throw error;
    }
    const id = idOfKeystoreKey(key);
    if (id === null) return;
    this.deps.keystore.remember(id);
    const entryNow = this.deps.keystore.replicated(id);
    if (entryNow.kind === 'key') this.revoked.delete(id);
    if (id === this.deps.nodeId) return;
    const closed = this.closeSessionsOf(id);
    this.deps.logger.info('keystore entry changed', { node: this.deps.nodeId, id, state: entryNow.kind === 'key' ? 'key' : 'revoked', sessionsClosed: closed });
  }

  /** After a snapshot was installed: records the entries of its members in the local cache. */
  onSnapshotRestored(configuration: ClusterConfiguration): void {
    for (const member of configuration.members) this.deps.keystore.remember(member.id);
  }

  private closeSessionsOf(id: NodeId): number {
    let closed = 0;
    for (const server of this.servers) closed += server.closeSessionsOf(id);
    return closed;
  }

  private refused(where: 'handshake' | 'rpc', claimed: string, context: InboundContext | null, reason: string): void {
    this.deps.metrics?.increment('membership_refusals_total', 1, { where });
    const now = this.nowMs();
    if (now - this.logWindowStartMs >= 1000) {
      this.logWindowStartMs = now;
      this.logsInWindow = 0;
    }
    if (this.logsInWindow >= this.logsPerSecondMax) return;
    this.logsInWindow += 1;
    this.deps.logger.warning(`refused a peer ${where}: ${reason}`, {
      node: this.deps.nodeId,
      claimed: claimed.slice(0, 64),
      identity: context?.peerIdentity ?? null,
      remote: context?.remoteAddress ?? null,
    });
  }
}
