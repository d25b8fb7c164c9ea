/**
 * The NetworkClient and NetworkServer ports (reference concepts `network_client`,
 * `network_server`): how RPCs travel between peers. Implemented by transport/.
 */
import type { NodeId } from './log.js';
import type { RequestMessage, ResponseFor, ResponseMessage } from './messages.js';

/**
 * Sends RPCs to peers (reference `network_client`). The reference's `send_request_vote`,
 * `send_append_entries` and `send_install_snapshot` are `send(target, request, timeoutMs)`,
 * whose result type follows the request's type. Many requests to one peer may be outstanding
 * at once. A failure rejects with `NetworkError` (NET_UNREACHABLE, NET_TIMEOUT, NET_REJECTED,
 * NET_AUTH, NET_TOO_LARGE); the client never retries on its own beyond its transport's
 * retransmission: retrying is the caller's (Raft's) decision.
 */
export interface NetworkClient {
  send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>>;
  /**
   * Largest encoded request, in bytes, that travels whole in one datagram; the transport splits
   * a larger one (CoAP Block1: one round trip per block). Absent when the transport has no such
   * limit (HTTP streams its bodies). The runtime keeps AppendEntries under it.
   */
  readonly wholeRequestBytesMax?: number;
  /** Replaces the address book; called when the cluster configuration changes. */
  setPeers(members: readonly { readonly id: NodeId; readonly address: string }[]): void;
  /**
   * Who the address book finds at `address` ("host:port"), compared as it compares peers (host
   * names resolved, IP literals in one form): this node (`self`), a peer, or null (nobody). Absent
   * when the transport has no such book (addresses then compare as written).
   */
  reachedAt?(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null>;
  /** Aborts outstanding requests and releases sockets and sessions. */
  close(): Promise<void>;
}

/** What the server knows of the sender of a request. */
export interface InboundContext {
  /**
   * The identity the transport authenticated (the DTLS PSK identity), or null when the
   * transport does not authenticate peers (`coap`, `http`).
   */
  readonly peerIdentity: NodeId | null;
  /** The sender's address as "host:port", for logs. */
  readonly remoteAddress: string;
  /**
   * The address ("host:port") at which the sender says its own peer server listens, when it
   * says so. It travels inside the sender's session, so it is as authentic as `peerIdentity`
   * (and means nothing when that is null). A request comes from the sender's client socket,
   * whose port is not the one it listens at, so this, not `remoteAddress`, is where it is reached.
   */
  readonly peerAddress?: string;
  /**
   * True when the request's byte fields are views of a buffer made for this one message (its
   * datagram, its DTLS record's plaintext, or its reassembled body) that nothing else holds or
   * writes into afterwards: the handler may keep such views instead of copying them, knowing that
   * a view keeps the whole buffer alive. Absent or false: a view may share memory with other
   * messages or be overwritten, so what is kept must be copied first.
   */
  readonly bytesOwned?: boolean;
}

/** Handles one inbound request; resolves with the response to send back. */
export type RpcHandler = (request: RequestMessage, context: InboundContext) => Promise<ResponseMessage>;

/**
 * Receives RPCs from peers (reference `network_server`). The reference registers one handler
 * per RPC; here one handler receives the request union and switches on its `type`.
 */
export interface NetworkServer {
  setHandler(handler: RpcHandler): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
}
