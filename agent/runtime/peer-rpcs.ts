/**
 * The node's RPC traffic with its peers, both ways.
 *
 * Inbound: every request is first checked against the identity the transport authenticated (a
 * peer may speak only for itself); a ClientForward goes to the client operations, and every
 * other request is handed to the core with a reply token. The core answers each exactly once,
 * in a later Ready, and {@link PeerRpcs.dispatch} settles the waiting reply with that answer.
 *
 * Outbound: the core's requests go out through the NetworkClient, with a deadline that grows
 * with the bytes carried (a large AppendEntries or InstallSnapshot chunk takes longer on a slow
 * link). A response is stepped into the core; a failure is reported to the core as
 * `unreachable`, and the core retries at the protocol's pace (heartbeats, probes).
 */
import type { RaftCore } from '../core/raft.js';
import type { CoreRequest, Outbound } from '../core/ready.js';
import { entryBytes } from '../core/log.js';
import { NetworkError, describeError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import {
  type ClientForwardRequest,
  type ClientForwardResponse,
  type RequestMessage,
  type ResponseMessage,
  claimedSender,
} from '../../contracts/messages.js';
import type { InboundContext } from '../../contracts/network.js';
import type { RaftNodeDeps } from './node-deps.js';
import { ownRequestBytes } from './own-bytes.js';
import type { AddressPlan } from '../membership/address-updates.js';

/** What the RPC traffic needs of the node. */
export interface PeerRpcHost {
  isRunning(): boolean;
  requireCore(): Pick<RaftCore, 'step'>;
  scheduleReady(): void;
  /** Runs a request a follower forwarded here (client-ops.ts). */
  answerForward(request: ClientForwardRequest): Promise<ClientForwardResponse>;
  /**
   * Member `id`, authenticated as itself, says its peer server listens at `address`; the leader
   * may record it through the log (membership-driver.ts). Returns what was done (null: nothing now).
   */
  peerAddressSeen(id: NodeId, address: string): AddressPlan | null;
}

/** The edges the RPC traffic reaches. */
export type PeerRpcDeps = Pick<RaftNodeDeps, 'client' | 'membership' | 'logger' | 'metrics' | 'observer'>;

/** Plain-data options of the RPC traffic. */
export interface PeerRpcOptions {
  readonly nodeId: NodeId;
  /** Deadline of an RPC that carries little, ms. */
  readonly rpcTimeoutMs: number;
}

/** Bytes per extra rpcTimeoutMs of deadline a large RPC gets. */
const RPC_DEADLINE_BYTES_PER_STEP = 64 * 1024;

/** A reply the core owes to an inbound request. */
interface ReplyWaiter {
  readonly resolve: (response: ResponseMessage) => void;
}

/** The node's RPCs with its peers; see the module comment. */
export class PeerRpcs {
  /** Inbound requests the core has yet to answer, by reply token; emptied when the node stops. */
  private readonly replies = new Map<number, ReplyWaiter>();
  private nextReplyToken = 1;

  constructor(
    private readonly host: PeerRpcHost,
    private readonly deps: PeerRpcDeps,
    private readonly options: PeerRpcOptions,
  ) {}

  /** Handles one inbound request (the NetworkServer's handler). */
  handle(request: RequestMessage, context: InboundContext): Promise<ResponseMessage> {
    if (!this.host.isRunning()) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'node is not running'));
    const claimed = claimedSender(request);
    if (!this.deps.membership.authenticateNode(claimed, context)) {
      this.deps.logger.warning('refused an RPC whose sender is not authenticated as the node it claims', {
        node: this.options.nodeId,
        claimed,
        identity: context.peerIdentity,
        remote: context.remoteAddress,
        type: request.type,
      });
      this.deps.metrics.increment('raft_rpc_refused_total', 1, { reason: 'auth' });
      return Promise.reject(
        new NetworkError(
          'NET_AUTH',
          `peer authenticated as ${String(context.peerIdentity)} may not speak for ${claimed}`,
        ),
      );
    }
    this.notePeerAddress(claimed, context);
    return this.accept(claimed, ownRequestBytes(request));
  }

  /**
   * Hands the address an authenticated sender advertises to the host. Only a transport that
   * authenticated the sender as the member it claims to be counts: over `coap` and `http`
   * (no identity) an address claim is ignored, whatever the membership manager accepts.
   */
  private notePeerAddress(claimed: NodeId, context: InboundContext): void {
    const address = context.peerAddress;
    if (address === undefined || context.peerIdentity === null || context.peerIdentity !== claimed) return;
    const plan = this.host.peerAddressSeen(claimed, address);
    if (plan?.kind !== 'propose') return;
    this.deps.metrics.increment('membership_address_updates_total', 1);
    this.deps.logger.info('a member authenticated from a new address: proposing it in the configuration', {
      node: this.options.nodeId,
      member: claimed,
      from: plan.previous,
      to: address,
    });
  }

  /** Runs an authenticated request whose kept bytes are the node's own (own-bytes.ts). */
  private accept(claimed: NodeId, request: RequestMessage): Promise<ResponseMessage> {
    if (request.type === 'ClientForwardRequest') return this.host.answerForward(request);
    const core = this.host.requireCore();
    return new Promise<ResponseMessage>((resolve, reject) => {
      const token = this.nextReplyToken;
      this.nextReplyToken += 1;
      this.replies.set(token, { resolve });
      const result = core.step({ kind: 'request', from: claimed, replyTo: token, request });
      if (!result.ok) {
        this.replies.delete(token);
        this.protocolViolation(claimed, result.reason);
        reject(new NetworkError('NET_REJECTED', result.reason));
        return;
      }
      this.host.scheduleReady();
    });
  }

  /** Sends one message of a Ready: a request to a peer, or the answer to an inbound request. */
  dispatch(message: Outbound): void {
    if (message.kind === 'response') {
      const waiter = this.replies.get(message.replyTo);
      if (waiter === undefined) return;
      this.replies.delete(message.replyTo);
      waiter.resolve(message.response);
      return;
    }
    this.send(message.to, message.seq, message.request);
  }

  /** The node stopped: the replies still owed are dropped (the transport times them out). */
  clear(): void {
    this.replies.clear();
  }

  private send(to: NodeId, seq: number, request: CoreRequest): void {
    const dimensions = { peer: to, type: request.type };
    this.deps.metrics.increment('raft_rpc_sent_total', 1, dimensions);
    this.deps.client.send(to, request, this.deadlineMs(request)).then(
      (response) => {
        if (!this.host.isRunning()) return;
        const result = this.host.requireCore().step({ kind: 'response', from: to, seq, request, response });
        if (!result.ok) this.protocolViolation(to, result.reason);
        this.host.scheduleReady();
      },
      (error: unknown) => {
        this.deps.metrics.increment('raft_rpc_failed_total', 1, dimensions);
        if (!this.host.isRunning()) return;
        this.deps.logger.debug('rpc failed', {
          node: this.options.nodeId,
          peer: to,
          type: request.type,
          error: describeError(error),
        });
        this.host.requireCore().step({ kind: 'unreachable', to, seq, request });
        this.host.scheduleReady();
      },
    );
  }

  /** rpcTimeoutMs, plus as much again per RPC_DEADLINE_BYTES_PER_STEP bytes the request carries. */
  private deadlineMs(request: CoreRequest): number {
    const bytes =
      request.type === 'AppendEntriesRequest'
        ? request.entries.reduce((sum, e) => sum + entryBytes(e), 0)
        : request.type === 'InstallSnapshotRequest'
          ? request.data.byteLength
          : 0;
    return this.options.rpcTimeoutMs * (1 + Math.floor(bytes / RPC_DEADLINE_BYTES_PER_STEP));
  }

  /** A peer's message broke the protocol: the core refused it; logged, counted and observed. */
  private protocolViolation(peer: NodeId, reason: string): void {
    this.deps.logger.warning('rejected a message that breaks the protocol', {
      node: this.options.nodeId,
      peer,
      reason,
    });
    this.deps.metrics.increment('raft_protocol_violations_total', 1, { peer });
    this.deps.observer?.onProtocolViolation?.(peer, reason);
  }
}
