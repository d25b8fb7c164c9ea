/**
 * Sending datagrams on a UDP socket while knowing when every send has completed, so that an
 * endpoint can let its close_notify alerts leave before it closes the socket.
 */
import type { Socket } from 'node:dgram';
import { NetworkError } from '../../contracts/errors.js';
import type { StatsCounters } from './stats.js';

/** Sends datagrams and counts the sends not yet completed. */
export class SocketSender {
  private inflight = 0;
  private drained: (() => void)[] = [];
  private open = true;

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
  send(data: Uint8Array, address: string, port: number): void {
    if (!this.open) return;
    this.start();
    this.socket.send(data, port, address, () => this.done());
  }

  /** Sends and resolves once the socket took the datagram; rejects with NET_UNREACHABLE on error. */
  sendAwaited(data: Uint8Array, address: string, port: number): Promise<void> {
    if (!this.open) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'socket is closed'));
    this.start();
    return new Promise((resolve, reject) => {
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
