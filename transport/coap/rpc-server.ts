/**
 * NetworkServer over CoAP: one POST resource per RPC (`/raft/<RpcName>`). The request body is
 * decoded as that RPC's request type; the handler's response is encoded and sent as 2.04
 * Changed. Failures become CoAP errors with a diagnostic payload: 4.00 for a body that does
 * not decode, 4.15 for a foreign Content-Format, 4.01/4.03 for a failed authentication (no
 * identity / wrong identity), 4.13 for a body over a limit, 5.03 while no handler is set or
 * the node is stopping, 5.00 when the handler fails otherwise. Unknown paths get 4.04 from
 * the CoAP server itself. The address a sender advertises (option CoraftPeerAddress) reaches
 * the handler as InboundContext.peerAddress.
 */
import { SerializationError } from '../../contracts/errors.js';
import { type RpcName, RPC_OF_REQUEST } from '../../contracts/messages.js';
import type { NetworkServer, RpcHandler } from '../../contracts/network.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { assert } from '../../contracts/assert.js';
import {
  REQUEST_TYPE_OF_RPC,
  RPC_NAMES,
  classifyHandlerError,
  describeHandlerError,
  formatAddress,
  parsePeerAddress,
  rpcPath,
} from '../rpc-routes.js';
import { CoapOption, CoapResponseCode } from './codes.js';
import { decodeString, firstOption } from './options.js';
import { PEER_ADDRESS_BYTES_MAX } from './rpc-client.js';
import { diagnosticResponse, type CoapRequest, type CoapResponse } from './request.js';
import type { CoapServer } from './server.js';

/** NetworkServer over CoAP; see the module comment. */
export class CoapNetworkServer implements NetworkServer {
  private handler: RpcHandler | null = null;

  constructor(
    /** The CoAP server underneath, for its counters and for more resources. */
    readonly coap: CoapServer,
    private readonly serializer: RpcSerializer,
  ) {
    for (const name of RPC_NAMES) coap.addResource(rpcPath(name), { POST: (request) => this.handle(name, request) });
  }

  setHandler(handler: RpcHandler): void {
    this.handler = handler;
  }

  start(): Promise<void> {
    return this.coap.start();
  }

  stop(): Promise<void> {
    return this.coap.stop();
  }

  isRunning(): boolean {
    return this.coap.isRunning();
  }

  /** The bound address; the server must be running. */
  localAddress(): { readonly address: string; readonly port: number } {
    return this.coap.localAddress();
  }

  private async handle(name: RpcName, request: CoapRequest): Promise<CoapResponse> {
    const handler = this.handler;
    if (handler === null) return diagnosticResponse(CoapResponseCode.ServiceUnavailable, 'no handler yet');
    const format = this.serializer.contentFormat;
    if (request.contentFormat !== null && request.contentFormat !== format) {
      return diagnosticResponse(CoapResponseCode.UnsupportedContentFormat, `expected Content-Format ${format}`);
    }
    if (request.accept !== null && request.accept !== format)
      return diagnosticResponse(CoapResponseCode.NotAcceptable, `only Content-Format ${format}`);
    let message;
    try {
      message = this.serializer.decodeAs(REQUEST_TYPE_OF_RPC[name], request.payload);
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      const code = error.code === 'CODEC_LIMIT' ? CoapResponseCode.RequestEntityTooLarge : CoapResponseCode.BadRequest;
      return diagnosticResponse(code, describeHandlerError(error));
    }
    const context = {
      peerIdentity: request.peer.identity,
      remoteAddress: formatAddress(request.peer.address, request.peer.port),
      // The payload is a view of its datagram, which the endpoint gave away (DatagramHandler), or
      // a reassembled body: a buffer of the body alone that the block stores forget once it is whole.
      bytesOwned: true,
      ...advertisedAddressOf(request),
    };
    let response;
    try {
      response = await handler(message, context);
    } catch (error: unknown) {
      return diagnosticResponse(
        failureCode(classifyHandlerError(error), context.peerIdentity),
        describeHandlerError(error),
      );
    }
    assert(
      response.type === RPC_OF_REQUEST[message.type].responseType,
      'the handler answers with the response type of the request',
    );
    return { code: CoapResponseCode.Changed, payload: this.serializer.encode(response), contentFormat: format };
  }
}

/** The peer address the sender advertised (option CoraftPeerAddress), when present and well-formed. */
function advertisedAddressOf(request: CoapRequest): { readonly peerAddress?: string } {
  const value = firstOption(request.options, CoapOption.CoraftPeerAddress);
  if (value === null || value.length > PEER_ADDRESS_BYTES_MAX) return {};
  const text = decodeString(value);
  return text === null || parsePeerAddress(text) === null ? {} : { peerAddress: text };
}

function failureCode(kind: ReturnType<typeof classifyHandlerError>, identity: string | null): number {
  switch (kind) {
    case 'auth':
      return identity === null ? CoapResponseCode.Unauthorized : CoapResponseCode.Forbidden;
    case 'too-large':
      return CoapResponseCode.RequestEntityTooLarge;
    case 'unavailable':
      return CoapResponseCode.ServiceUnavailable;
    case 'internal':
      return CoapResponseCode.InternalServerError;
  }
}
