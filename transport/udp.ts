/**
 * Plain UDP as a DatagramEndpoint (node:dgram): what the `coap` transport runs on. Peers are
 * not authenticated, so every datagram's `identity` is null.
 *
 * An IPv6 endpoint bound to the wildcard "::" is dual-stack: it also reaches IPv4 peers, and
 * reports them by their IPv4 address (not as ::ffff:a.b.c.d), so that the CoAP client matches a
 * response to the address it sent to whichever family the socket has. One bound to a single IPv6
 * address reaches no IPv4 peer, nor an IPv4 endpoint an IPv6 one: such a send is refused at once
 * as NET_ADDRESS (address-family.ts), not handed to the socket to fail.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { NetworkError } from '../contracts/errors.js';
import { assert } from '../contracts/assert.js';
import type { DatagramEndpoint, DatagramHandler } from './datagram.js';
import { familyRefusal, isDualStack, unmappedAddress } from './address-family.js';
import { literalLookup } from './literal-lookup.js';
import { PostCallbacks } from './post-callbacks.js';

/** Options of a UDP endpoint. */
export interface UdpEndpointOptions {
  /** The local IPv4 or IPv6 address literal to bind. Default '127.0.0.1'. */
  readonly address?: string;
  /** The local port; 0 picks a free one. Default 0; 0..65535. */
  readonly port?: number;
  /** SO_RCVBUF in bytes, or null for the system default. Default null; 4 KiB..64 MiB. */
  readonly receiveBufferBytes?: number | null;
  /** SO_SNDBUF in bytes, or null for the system default. Default null; 4 KiB..64 MiB. */
  readonly sendBufferBytes?: number | null;
  /**
   * Told of socket errors that belong to no send (a send's own failure rejects that send).
   * Default: counted in `errorCount` only.
   */
  readonly onSocketError?: (error: Error) => void;
}

/** The largest UDP payload over IPv4 (65,535 − 8 − 20 bytes). */
export const UDP_PAYLOAD_BYTES_MAX = 65_507;

/** A bound UDP socket as a DatagramEndpoint. */
export class UdpEndpoint implements DatagramEndpoint {
  private handler: DatagramHandler | null = null;
  private closed = false;
  private errors = 0;
  /** The socket callbacks of `post`. */
  private readonly postCallbacks = new PostCallbacks('udp send');

  private constructor(
    private readonly socket: Socket,
    /** The address the socket is bound to. */
    private readonly bound: string,
    private readonly onSocketError: ((error: Error) => void) | null,
  ) {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are named by their IPv4 address.
    socket.on('message', (data, remote) => {
      this.handler?.(data, { address: unmappedAddress(remote.address), port: remote.port, identity: null });
    });
    socket.on('error', (error) => {
      this.errors += 1;
      this.onSocketError?.(error);
    });
  }

  /** Binds a new endpoint; rejects with NetworkError when the address cannot be bound. */
  static async open(options: UdpEndpointOptions = {}): Promise<UdpEndpoint> {
    const address = options.address ?? '127.0.0.1';
    const port = options.port ?? 0;
    const family = isIP(address);
    assert(family === 4 || family === 6, 'udp bind address is an IP literal');
    assert(Number.isInteger(port) && port >= 0 && port <= 65535, 'udp port is 0..65535');
    for (const bytes of [options.receiveBufferBytes, options.sendBufferBytes]) {
      assert(
        bytes == null || (Number.isInteger(bytes) && bytes >= 4096 && bytes <= 64 * 1024 * 1024),
        'udp buffer size is 4 KiB..64 MiB',
      );
    }
    const lookup = literalLookup(isDualStack(address));
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: false, lookup });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void =>
        reject(
          new NetworkError('NET_UNREACHABLE', `cannot bind udp ${address}:${port}: ${error.message}`, { cause: error }),
        );
      socket.once('error', onError);
      socket.bind(port, address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    if (options.receiveBufferBytes != null) socket.setRecvBufferSize(options.receiveBufferBytes);
    if (options.sendBufferBytes != null) socket.setSendBufferSize(options.sendBufferBytes);
    return new UdpEndpoint(socket, address, options.onSocketError ?? null);
  }

  /** Socket errors seen outside sends. */
  get errorCount(): number {
    return this.errors;
  }

  send(data: Uint8Array, address: string, port: number): Promise<void> {
    return this.sendList(data, data.length, address, port);
  }

  /** See DatagramEndpoint.sendParts: all go to the socket as they are, one datagram. */
  sendParts(head: Uint8Array, body: readonly Uint8Array[], address: string, port: number): Promise<void> {
    let bytes = head.length;
    for (const piece of body) bytes += piece.length;
    return this.sendList([head, ...body], bytes, address, port);
  }

  private sendList(data: Uint8Array | readonly Uint8Array[], bytes: number, address: string, port: number) {
    if (this.closed) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'udp endpoint is closed'));
    if (bytes > UDP_PAYLOAD_BYTES_MAX) {
      return Promise.reject(
        new NetworkError('NET_TOO_LARGE', `datagram of ${bytes} bytes exceeds ${UDP_PAYLOAD_BYTES_MAX}`),
      );
    }
    const refusal = familyRefusal(this.bound, address, port, true);
    if (refusal !== null) return Promise.reject(refusal);
    return new Promise<void>((resolve, reject) => {
      this.socket.send(data, port, address, (error) => {
        if (error === null) resolve();
        else
          reject(
            new NetworkError('NET_UNREACHABLE', `udp send to ${address}:${port} failed: ${error.message}`, {
              cause: error,
            }),
          );
      });
    });
  }

  /**
   * Sends without a promise (DatagramEndpoint.post): the socket's callback is made once per
   * `onFailure`, not per datagram, and a failure (a closed endpoint, an oversized datagram, the
   * socket's error) reaches `onFailure` as `send` would reject.
   */
  post(data: Uint8Array, address: string, port: number, onFailure: (error: Error) => void): void {
    if (this.closed) return onFailure(new NetworkError('NET_UNREACHABLE', 'udp endpoint is closed'));
    if (data.length > UDP_PAYLOAD_BYTES_MAX)
      return onFailure(
        new NetworkError('NET_TOO_LARGE', `datagram of ${data.length} bytes exceeds ${UDP_PAYLOAD_BYTES_MAX}`),
      );
    const refusal = familyRefusal(this.bound, address, port, true);
    if (refusal !== null) return onFailure(refusal);
    try {
      this.socket.send(data, port, address, this.postCallbacks.of(onFailure));
    } catch (error: unknown) {
      // node:dgram throws for a bad port or a socket it has closed; send's promise rejects then.
      onFailure(new NetworkError('NET_UNREACHABLE', `udp send to ${address}:${port} failed`, { cause: error }));
    }
  }

  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** The socket's receive buffer as the kernel reports it (SO_RCVBUF; Linux reports twice what it grants). */
  receiveBufferBytes(): number {
    return this.socket.getRecvBufferSize();
  }

  localAddress(): { readonly address: string; readonly port: number } {
    const bound = this.socket.address();
    return { address: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** Binds a UDP endpoint; see {@link UdpEndpointOptions}. */
export function openUdpEndpoint(options: UdpEndpointOptions = {}): Promise<UdpEndpoint> {
  return UdpEndpoint.open(options);
}
