/**
 * NetworkClient over CoAP: each RPC is a confirmable POST to `/raft/<RpcName>` with the
 * serializer's Content-Format, answered by a piggybacked 2.04 carrying the response. Error
 * responses become NetworkError: 4.01/4.03 NET_AUTH, 4.13 NET_TOO_LARGE, any other NET_REJECTED,
 * each with the server's diagnostic payload in its message.
 */
import { NetworkError, SerializationError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import { RPC_OF_REQUEST, type RequestMessage, type ResponseFor } from '../../contracts/messages.js';
import type { NetworkClient } from '../../contracts/network.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { HeartbeatPayloads } from '../heartbeat-payloads.js';
import type { PeerBook } from '../peer-book.js';
import { RPC_PATH_ROOT, encodeRequest, encodeRequestParts, isResponseTo } from '../rpc-routes.js';
import type { CoapClient } from './client.js';
import type { CoapClientResponse } from './client-exchange.js';
import { CoapOption, CoapResponseCode, codeClassOf, formatCode } from './codes.js';
import type { CoapOptionValue } from './message.js';
import { stringOption } from './options.js';

/**
 * Longest advertised peer address sent or read, in bytes. The option must fit the room a peer
 * request keeps for its header (PEER_REQUEST_HEADER_BYTES_MAX) beside a whole-body payload, so
 * a longer address (a host name of more than about 58 characters) is not advertised: that
 * member's address is then corrected only by editing the configuration.
 */
export const PEER_ADDRESS_BYTES_MAX = 64;

/** What a CoAP NetworkClient is given. */
export interface CoapNetworkClientDeps {
  readonly coap: CoapClient;
  readonly serializer: RpcSerializer;
  readonly peers: PeerBook;
  /**
   * The "host:port" this node's peer server listens at, sent with every RPC (option
   * CoraftPeerAddress) so that a peer that authenticated this node learns where it is
   * reached (InboundContext.peerAddress); one over PEER_ADDRESS_BYTES_MAX is not sent. Default: not sent.
   */
  readonly advertisedAddress?: string;
}

const diagnosticText = new TextDecoder('utf-8', { fatal: false });

/** NetworkClient over CoAP; see the module comment. */
export class CoapNetworkClient implements NetworkClient {
  private readonly extraOptions: readonly CoapOptionValue[];
  /** Each peer's last heartbeat body, sent again while unchanged (heartbeat-payloads.ts). */
  private readonly heartbeats = new HeartbeatPayloads();
  private readonly encode = (request: RequestMessage): Uint8Array => encodeRequest(this.deps.serializer, request);

  constructor(private readonly deps: CoapNetworkClientDeps) {
    const advertised = deps.advertisedAddress;
    const option = advertised === undefined ? null : stringOption(CoapOption.CoraftPeerAddress, advertised);
    this.extraOptions = option === null || option.value.length > PEER_ADDRESS_BYTES_MAX ? [] : [option];
  }

  /** The CoAP client underneath, for its counters. */
  get coap(): CoapClient {
    return this.deps.coap;
  }

  /** See NetworkClient.wholeRequestBytesMax: the CoAP client's whole-body limit. */
  get wholeRequestBytesMax(): number {
    return this.deps.coap.wholeBodyBytesMax;
  }

  async send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    const { rpc } = RPC_OF_REQUEST[request.type];
    const peer = this.deps.peers.literal(target) ?? (await this.deps.peers.resolve(target));
    const serializer = this.deps.serializer;
    // An AppendEntries of large commands goes as pieces, the commands sent where they are (no copy per follower).
    const withEntries = request.type === 'AppendEntriesRequest' && request.entries.length > 0;
    const parts = withEntries ? encodeRequestParts(serializer, request) : null;
    const body =
      parts === null ? { payload: this.heartbeats.bodyOf(target, request, this.encode) } : { payloadParts: parts };
    const response = await this.deps.coap.request(
      peer,
      {
        method: 'POST',
        path: [RPC_PATH_ROOT, rpc],
        contentFormat: serializer.contentFormat,
        accept: serializer.contentFormat,
        ...body,
        options: this.extraOptions,
      },
      timeoutMs,
    );
    if (codeClassOf(response.code) !== 2 || response.code === CoapResponseCode.Continue)
      throw errorOfResponse(target, response);
    if (response.contentFormat !== null && response.contentFormat !== serializer.contentFormat) {
      throw new NetworkError(
        'NET_REJECTED',
        `peer ${target} answered ${rpc} in Content-Format ${response.contentFormat}`,
      );
    }
    let decoded;
    try {
      decoded = serializer.decodeAs(RPC_OF_REQUEST[request.type].responseType, response.payload);
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      throw new NetworkError('NET_REJECTED', `peer ${target} sent a malformed ${rpc} response: ${error.message}`, {
        cause: error,
      });
    }
    if (!isResponseTo(request, decoded))
      throw new NetworkError('NET_REJECTED', `peer ${target} answered ${rpc} with ${decoded.type}`);
    return decoded;
  }

  setPeers(members: readonly { readonly id: NodeId; readonly address: string }[]): void {
    this.deps.peers.set(members);
    this.heartbeats.clear();
  }
  reachedAt(address: string): Promise<{ readonly self: true } | { readonly peer: NodeId } | null> {
    return this.deps.peers.reachedAt(address);
  }

  close(): Promise<void> {
    return this.deps.coap.close();
  }
}

function errorOfResponse(target: NodeId, response: CoapClientResponse): NetworkError {
  const text =
    `peer ${target} ` +
    `answered ${formatCode(response.code)}: ${diagnosticText.decode(response.payload.subarray(0, 200))}`;
  switch (response.code) {
    case CoapResponseCode.Unauthorized:
    case CoapResponseCode.Forbidden:
      return new NetworkError('NET_AUTH', text);
    case CoapResponseCode.RequestEntityTooLarge:
      return new NetworkError('NET_TOO_LARGE', text);
    default:
      return new NetworkError('NET_REJECTED', text);
  }
}
