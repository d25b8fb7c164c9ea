/**
 * What both DTLS endpoints do with what a session yields: hand application data to the
 * endpoint's receiver, and contain errors of protocol processing (bugs) so they are counted
 * and reported instead of unwinding through the socket handler.
 */
import type { DatagramHandler } from '../datagram.js';
import type { Session } from './session.js';
import type { StatsCounters } from './stats.js';

export class SessionReceiver {
  private handler: DatagramHandler | null = null;

  constructor(
    private readonly counters: StatsCounters,
    private readonly onInternalError: ((error: unknown) => void) | undefined,
  ) {}

  /** Sets the receiver of every datagram (a later call replaces it). */
  setHandler(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** Hands one datagram of `session` to the receiver; the receiver's own errors are reported. */
  deliver(session: Session, data: Uint8Array): void {
    const handler = this.handler;
    if (handler === null) return;
    try {
      handler(data, { address: session.address, port: session.port, identity: session.identity });
    } catch (error) {
      this.report(error);
    }
  }

  /** Runs `action` for `session`; an error drops the session and is reported. */
  contain(session: Session, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.report(error);
      session.drop('internal');
    }
  }

  /** Counts and reports a contained error. */
  report(error: unknown): void {
    this.counters.internalErrors += 1;
    this.onInternalError?.(error);
  }
}
