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
 *
 * An InstallSnapshot chunk leaves the core as a place in the persisted image (SnapshotChunkRequest):
 * its bytes are read back from storage here, just before it is sent, so no one keeps the image in
 * memory (issue 17). When storage holds a newer snapshot by then, the chunk is not sent and the
 * core hears `unreachable`; at the next heartbeat it starts over with its newer snapshot. A failed
 * read is a storage failure, fatal like a failed write.
 */
import type { RaftCore } from '../core/raft.js';
import type { CoreOutboundRequest, CoreRequest, Outbound, SnapshotChunkRequest } from '../core/ready.js';
import { entryBytes } from '../core/log.js';
import { assert } from '../../contracts/assert.js';
import { NetworkError, describeError } from '../../contracts/errors.js';
import { LogThrottle } from '../../contracts/rate-limiter.js';
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
import type { LatencyStage } from '../observability/latency-probe.js';
import { ownRequestBytes } from './own-bytes.js';
import { SendPacer } from './send-pacer.js';
import { SendRefusals } from './send-refusals.js';
import { KEY_REFUSAL_ADVICE, KeyRefusals } from './key-refusals.js';
import type { PeerView } from './status.js';
import type { AddressPlan } from '../membership/address-updates.js';
import { reportAddressProposal } from './membership-driver.js';
import { epochOfTerm, isOfEarlierEpoch, leftOutError, type OwnTerm } from './recovery-epoch.js';

/** What the RPC traffic needs of the node. */
export interface PeerRpcHost {
  isRunning(): boolean;
  requireCore(): Pick<RaftCore, 'step' | 'getLastIndex' | 'getTerm'>;
  scheduleReady(): void;
  /** A storage failure: the node stops (node.ts). */
  fatal(error: unknown): void;
  /** Runs a request a follower forwarded here (client-ops.ts). */
  answerForward(request: ClientForwardRequest): Promise<ClientForwardResponse>;
  /**
   * Member `id`, authenticated as itself, says its peer server listens at `address`; the leader
   * may record it through the log (membership-driver.ts). Returns what was done (null: nothing now).
   */
  peerAddressSeen(id: NodeId, address: string): AddressPlan | null;
}

/** The edges the RPC traffic reaches. */
export type PeerRpcDeps = Pick<
  RaftNodeDeps,
  | 'client'
  | 'membership'
  | 'logger'
  | 'metrics'
  | 'observer'
  | 'storage'
  | 'latencyProbe'
  | 'paceSends'
  | 'advertisedAddresses'
  | 'timers'
>;

/** Plain-data options of the RPC traffic. */
export interface PeerRpcOptions {
  readonly nodeId: NodeId;
  /** Deadline of an RPC that carries little, ms. */
  readonly rpcTimeoutMs: number;
}

/**
 * Most lines a second about peers' refused or protocol-breaking requests, as many as the
 * membership's refusal lines (AuthenticatedMembershipDeps.refusalLogsPerSecondMax). A peer that
 * holds a link key can send such requests as fast as its session carries them: one line each
 * would fill a gateway's disk. The rest are counted in the metrics and in the next line's
 * `suppressed`.
 */
export const PEER_REFUSAL_LOGS_PER_SECOND_MAX = 10;

/** Bytes per extra rpcTimeoutMs of deadline a large RPC gets. */
const RPC_DEADLINE_BYTES_PER_STEP = 64 * 1024;

/**
 * The entry or image bytes `request` carries: its deadline is rpcTimeoutMs, plus as much again per
 * RPC_DEADLINE_BYTES_PER_STEP of them, and its pacing counts them.
 */
function carriedBytes(request: CoreOutboundRequest): number {
  if (request.type === 'AppendEntriesRequest') return request.entries.reduce((sum, e) => sum + entryBytes(e), 0);
  return request.type === 'InstallSnapshotRequest' ? request.dataBytes : 0;
}

/** A reply the core owes to an inbound request. */
interface ReplyWaiter {
  readonly resolve: (response: ResponseMessage) => void;
}

/** The node's RPCs with its peers; see the module comment. */
export class PeerRpcs {
  /** Inbound requests the core has yet to answer, by reply token; emptied when the node stops. */
  private readonly replies = new Map<number, ReplyWaiter>();
  private nextReplyToken = 1;
  /** Paces outbound requests over the event loop's turns (send-pacer.ts); null: each goes at once. */
  private readonly pacer: SendPacer | null;
  /** Sends refused for an address, logged once each (send-refusals.ts). */
  private readonly refusals: SendRefusals;
  /** Whether every peer refuses this node's handshakes (key-refusals.ts). */
  readonly keyRefusals: KeyRefusals;
  /** The rate of lines about refused and protocol-breaking requests. */
  private readonly refusalLogs: LogThrottle;
  /** Members heard from with a term of an earlier recovery epoch, logged once each (recovery-epoch.ts). */
  private readonly earlierEpochPeers = new Set<NodeId>();

  constructor(
    private readonly host: PeerRpcHost,
    private readonly deps: PeerRpcDeps,
    private readonly options: PeerRpcOptions,
  ) {
    this.pacer = deps.paceSends === undefined ? null : new SendPacer(deps.paceSends);
    this.refusals = new SendRefusals(deps.logger, options.nodeId);
    this.keyRefusals = new KeyRefusals(deps.logger, options.nodeId, () => deps.timers.nowMs());
    this.refusalLogs = new LogThrottle(deps.timers, PEER_REFUSAL_LOGS_PER_SECOND_MAX);
  }

  /** What the status shows of the peers (status.ts). */
  view(): PeerView {
    const since = this.keyRefusals.refusedSinceMs();
    const forMs = since === null ? null : Math.round(this.deps.timers.nowMs() - since);
    return {
      keysRefused: forMs === null ? null : { forMs, advice: KEY_REFUSAL_ADVICE },
      reachedAt: this.deps.advertisedAddresses?.overridden() ?? [],
    };
  }

  /** Why sends to `peer` do not leave this node, when the transport refused its address (else null). */
  addressRefusalOf(peer: NodeId): string | null {
    return this.refusals.lastRefusalOf(peer);
  }

  /** Handles one inbound request (the NetworkServer's handler). */
  handle(request: RequestMessage, context: InboundContext): Promise<ResponseMessage> {
    if (!this.host.isRunning()) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'node is not running'));
    const claimed = claimedSender(request);
    if (!this.deps.membership.authenticateNode(claimed, context, request.type)) {
      // The PSK membership logs it itself, with its reason, once per peer and reason (membership/refusal-log.ts).
      const suppressed = this.deps.membership.logsRefusals === true ? null : this.refusalLogs.take();
      if (suppressed !== null)
        this.deps.logger.warning('refused an RPC whose sender is not authenticated as the node it claims', {
          node: this.options.nodeId,
          claimed,
          identity: context.peerIdentity,
          remote: context.remoteAddress,
          type: request.type,
          suppressed,
        });
      this.deps.metrics.increment('raft_rpc_refused_total', 1, { reason: 'auth' });
      return Promise.reject(
        new NetworkError(
          'NET_AUTH',
          `${this.options.nodeId} refused a ${request.type} from ${claimed} (authenticated as ` +
            `${String(context.peerIdentity)}): not that member, or not a member (its log says which)`,
        ),
      );
    }
    if (request.type !== 'ClientForwardRequest' && this.leftOutBy(claimed, request.term))
      return Promise.reject(new NetworkError('NET_REJECTED', `${this.options.nodeId} was left out by a recovery`));
    this.notePeerAddress(claimed, context);
    const lastIndex = this.host.requireCore().getLastIndex();
    return this.accept(claimed, ownRequestBytes(request, context.bytesOwned === true, lastIndex));
  }

  /**
   * Whether a message of `term` from `peer` shows that a recovery left this node out
   * (recovery-epoch.ts): then the node stops, as on a fatal error. A message of an earlier epoch
   * is logged once per peer and stepped: the core refuses it as stale.
   */
  private leftOutBy(peer: NodeId, term: number): boolean {
    const core = this.host.requireCore();
    const ownTerm = core.getTerm();
    // Every message but those across a recovery: one epoch, nothing to decide or allocate.
    if (epochOfTerm(term) === epochOfTerm(ownTerm)) return false;
    const self: OwnTerm = { nodeId: this.options.nodeId, term: ownTerm, lastIndex: core.getLastIndex() };
    const error = leftOutError(self, peer, term);
    if (error !== null) {
      this.host.fatal(error);
      return true;
    }
    if (isOfEarlierEpoch(self, term) && !this.earlierEpochPeers.has(peer)) {
      this.earlierEpochPeers.add(peer);
      this.deps.logger.warning('refused a member left out by a recovery: it holds state of before it', {
        node: this.options.nodeId,
        peer,
        term,
        ownTerm: self.term,
        action: `${peer} stops once it hears this node's answer; wipe its data folder before adding it back`,
      });
    }
    return false;
  }

  /**
   * Hands the address an authenticated sender advertises to the host (a leader records it) and
   * to the address book (this node reaches the sender there meanwhile). Only a transport that
   * authenticated the sender as the member it claims to be counts: over `coap` and `http`
   * (no identity) an address claim is ignored, whatever the membership manager accepts.
   */
  private notePeerAddress(claimed: NodeId, context: InboundContext): void {
    const address = context.peerAddress;
    if (address === undefined || context.peerIdentity === null || context.peerIdentity !== claimed) return;
    this.deps.advertisedAddresses?.advertised(claimed, address);
    const plan = this.host.peerAddressSeen(claimed, address);
    if (plan === null) return;
    reportAddressProposal(this.deps, this.options.nodeId, `${claimed} authenticated from a new address`, plan, address);
  }

  /** Runs an authenticated request whose kept bytes are the node's own (own-bytes.ts). */
  private accept(claimed: NodeId, request: RequestMessage): Promise<ResponseMessage> {
    if (request.type === 'ClientForwardRequest') return this.host.answerForward(request);
    if (request.type === 'AppendEntriesRequest') this.probeEntries('recv', request);
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

  /** The node stopped: replies still owed are dropped (the transport times them out), and requests not yet sent. */
  clear(): void {
    this.replies.clear();
    this.pacer?.clear();
  }

  private send(to: NodeId, seq: number, request: CoreOutboundRequest): void {
    if (request.type === 'InstallSnapshotRequest') {
      void this.sendSnapshotChunk(to, seq, request);
      return;
    }
    this.sendRequest(to, seq, request, request);
  }

  /** Reads the chunk's bytes from the persisted snapshot, then sends it (see the module comment). */
  private async sendSnapshotChunk(to: NodeId, seq: number, chunk: SnapshotChunkRequest): Promise<void> {
    let data: Uint8Array | null;
    try {
      data = await this.deps.storage.readSnapshotChunk(chunk.lastIncludedIndex, chunk.offset, chunk.dataBytes);
    } catch (error) {
      this.host.fatal(error);
      return;
    }
    if (!this.host.isRunning()) return;
    if (data === null) {
      this.deps.logger.debug('snapshot chunk not sent: storage holds a newer snapshot', {
        node: this.options.nodeId,
        peer: to,
        index: chunk.lastIncludedIndex,
      });
      this.host.requireCore().step({ kind: 'unreachable', to, seq, request: chunk });
      this.host.scheduleReady();
      return;
    }
    assert(data.byteLength === chunk.dataBytes, 'storage reads exactly the chunk asked for');
    const { dataBytes: _size, ...fields } = chunk;
    this.sendRequest(to, seq, chunk, { ...fields, data });
  }

  /**
   * Sends `message` (what goes on the wire for the core's `request`) and steps the outcome into
   * the core with `request`.
   */
  private sendRequest(to: NodeId, seq: number, request: CoreOutboundRequest, message: CoreRequest): void {
    const bytes = carriedBytes(request);
    if (this.pacer === null) this.transmit(to, seq, request, message, bytes);
    else this.pacer.submit(bytes, () => this.host.isRunning() && this.transmit(to, seq, request, message, bytes));
  }

  private transmit(to: NodeId, seq: number, request: CoreOutboundRequest, message: CoreRequest, bytes: number): void {
    const dimensions = { peer: to, type: request.type };
    this.deps.metrics.increment('raft_rpc_sent_total', 1, dimensions);
    const deadlineMs = this.options.rpcTimeoutMs * (1 + Math.floor(bytes / RPC_DEADLINE_BYTES_PER_STEP));
    this.deps.client.send(to, message, deadlineMs).then(
      (response) => {
        this.refusals.noteSent(to);
        this.keyRefusals.noteOutcome(to, null);
        if (!this.host.isRunning()) return;
        if (this.leftOutBy(to, response.term)) return;
        if (request.type === 'AppendEntriesRequest' && response.type === 'AppendEntriesResponse' && response.success)
          this.probeEntries('ack', request);
        const result = this.host.requireCore().step({ kind: 'response', from: to, seq, request, response });
        if (!result.ok) this.protocolViolation(to, result.reason);
        this.host.scheduleReady();
      },
      (error: unknown) => {
        this.deps.metrics.increment('raft_rpc_failed_total', 1, dimensions);
        if (!this.host.isRunning()) return;
        this.keyRefusals.noteOutcome(to, error);
        if (!this.refusals.noteFailure(to, error))
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

  /** Marks `stage` for the last entry of an AppendEntries (observability/latency-probe.ts). */
  private probeEntries(
    stage: LatencyStage,
    request: { readonly entries: readonly { readonly index: number }[] },
  ): void {
    const last = request.entries[request.entries.length - 1];
    if (last !== undefined) this.deps.latencyProbe?.mark(stage, last.index);
  }

  /** A peer's message broke the protocol: the core refused it; logged (rate-limited), counted and observed. */
  private protocolViolation(peer: NodeId, reason: string): void {
    const suppressed = this.refusalLogs.take();
    if (suppressed !== null)
      this.deps.logger.warning('rejected a message that breaks the protocol', {
        node: this.options.nodeId,
        peer,
        reason,
        suppressed,
      });
    this.deps.metrics.increment('raft_protocol_violations_total', 1, { peer });
    this.deps.observer?.onProtocolViolation?.(peer, reason);
  }
}
