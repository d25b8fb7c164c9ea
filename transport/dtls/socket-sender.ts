/**
 * Sending datagrams on a UDP socket while knowing when every send has completed, so that an
 * endpoint can let its close_notify alerts leave before it closes the socket.
 */
import type { Socket } from 'node:dgram';
import { NetworkError } from '../../contracts/errors.js';
import type { StatsCounters } from './stats.js';
import { PostCallbacks } from '../post-callbacks.js';

/** One datagram: its bytes, or its parts in order (node:dgram sends them with one sendmsg, not joined first). */
export type OutgoingDatagram = Uint8Array | readonly Uint8Array[];

/** Sends datagrams and counts the sends not yet completed. */
export class SocketSender {
  private inflight = 0;
  private drained: (() => void)[] = [];
  private open = true;
  /** The socket's callback of fire-and-forget sends (one for every send, not one per send). */
  private readonly sent = (): void => this.done();
  /** The socket callbacks of `post`: each counts its send done. */
  private readonly postCallbacks = new PostCallbacks('send', () => this.done());

  constructor(
    private readonly socket: Socket,
    private readonly stats: StatsCounters,
  ) {
    socket.once('close', () => {
      this.open = false;
    });
  }

  /** Whether the socket is still open (it may be closed under us, e.g. in a test of a crash). */
  isOpen(): boolean {
    return this.open;
  }

  /**
   * Sends without waiting. A failed send of a handshake flight or alert is left to the
   * protocol: flights are retransmitted and alerts are best-effort (RFC 6347 §4.1.2.7).
   */
  send(data: OutgoingDatagram, address: string, port: number): void {
    if (!this.open) return;
    this.start();
    try {
      this.socket.send(data, port, address, this.sent);
    } catch {
      // node:dgram throws for a bad port or a socket it has closed: nothing left, nothing to wait for.
      this.done();
    }
  }

  /**
   * Sends without a promise (DatagramEndpoint.post): a failure reaches `onFailure` as the
   * NET_UNREACHABLE `sendAwaited` would reject with, perhaps before `post` returns. The socket's
   * callback is made once per `onFailure`, not once per datagram.
   */
  post(data: OutgoingDatagram, address: string, port: number, onFailure: (error: Error) => void): void {
    if (!this.open) return onFailure(new NetworkError('NET_UNREACHABLE', 'socket is closed'));
    this.start();
    try {
      this.socket.send(data, port, address, this.postCallbacks.of(onFailure));
    } catch (error: unknown) {
      this.done();
      onFailure(new NetworkError('NET_UNREACHABLE', `send to ${address}:${port} failed`, { cause: error }));
    }
  }

  /** Sends and resolves once the socket took the datagram; rejects with NET_UNREACHABLE on error. */
  sendAwaited(data: OutgoingDatagram, address: string, port: number): Promise<void> {
    if (!this.open) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'socket is closed'));
    this.start();
    return new Promise((resolve, reject) => {
      try {
        this.socket.send(data, port, address, (error) => {
          this.done();
          if (error === null) resolve();
          else
            reject(
              new NetworkError('NET_UNREACHABLE', `send to ${address}:${port} failed: ${error.message}`, {
                cause: error,
              }),
            );
        });
      } catch (error: unknown) {
        // node:dgram throws for a socket closed under us before its 'close' event: no callback comes.
        this.done();
        reject(new NetworkError('NET_UNREACHABLE', `send to ${address}:${port} failed`, { cause: error }));
      }
    });
  }

  /** Resolves once every send started so far has completed. */
  drain(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private start(): void {
    this.inflight += 1;
    this.stats.datagramsSent += 1;
  }

  private done(): void {
    this.inflight -= 1;
    if (this.inflight > 0) return;
    const waiters = this.drained;
    this.drained = [];
    for (const resolve of waiters) resolve();
  }
}
