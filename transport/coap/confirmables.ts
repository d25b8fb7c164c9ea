/**
 * Confirmable messages the server sends outside a request/response exchange (Observe
 * notifications, RFC 7641 §4.5): each is retransmitted with exponential back-off (RFC 7252
 * §4.2) until the client's empty ACK or RST arrives, or the retransmissions run out. The
 * caller learns which of the three happened: an RST or silence tells it that the client is
 * gone (RFC 7641 §4.5: "the server MUST remove the client from the list of observers").
 *
 * The back-off has no jitter (the server has no random source); notifications to different
 * clients are spread by the events that cause them.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { DatagramPeer } from '../datagram.js';

/** How a confirmable message ended. */
export type ConfirmableOutcome = 'acknowledged' | 'reset' | 'timeout' | 'stopped';

/** Limits of the pending table. */
export interface ConfirmablesOptions {
  /** The first retransmission timeout, in ms (RFC 7252 ACK_TIMEOUT). */
  readonly ackTimeoutMs: number;
  /** Most retransmissions (RFC 7252 MAX_RETRANSMIT). */
  readonly retransmitMax: number;
  /** Most messages awaiting an ACK at once. */
  readonly pendingMax: number;
}

interface Pending {
  readonly peer: DatagramPeer;
  readonly bytes: Uint8Array;
  retransmits: number;
  timer: TimerHandle;
  readonly settle: (outcome: ConfirmableOutcome) => void;
}

/** Confirmable messages awaiting an ACK; see the module comment. */
export class PendingConfirmables {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly options: ConfirmablesOptions,
    private readonly timers: Timers,
    private readonly transmit: (bytes: Uint8Array, peer: DatagramPeer) => void,
  ) {
    assert(options.ackTimeoutMs > 0, 'a retransmission timeout is positive');
  }

  /** Messages awaiting an ACK. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends `bytes` (a CON with message id `messageId`) to `peer` and retransmits it until it is
   * answered; resolves with how it ended. Null when `pendingMax` messages are already waiting
   * (nothing was sent).
   */
  send(peerKey: string, peer: DatagramPeer, messageId: number, bytes: Uint8Array): Promise<ConfirmableOutcome> | null {
    if (this.pending.size >= this.options.pendingMax) return null;
    const key = `${peerKey}#${messageId}`;
    // A message id is reused only after 65,536 others; an old one still waiting is superseded.
    this.settle(key, 'timeout');
    return new Promise((resolve) => {
      const entry: Pending = { peer, bytes, retransmits: 0, timer: { cancel: () => undefined }, settle: resolve };
      entry.timer = this.timers.setTimer(this.options.ackTimeoutMs, () => this.onTimeout(key, entry));
      this.pending.set(key, entry);
      this.transmit(bytes, peer);
    });
  }

  /** An empty ACK arrived; true when it answered a pending message. */
  onAck(peerKey: string, messageId: number): boolean {
    return this.settle(`${peerKey}#${messageId}`, 'acknowledged');
  }

  /** An RST arrived; true when it answered a pending message. */
  onReset(peerKey: string, messageId: number): boolean {
    return this.settle(`${peerKey}#${messageId}`, 'reset');
  }

  /** Ends every pending message with 'stopped'. */
  clear(): void {
    for (const key of [...this.pending.keys()]) this.settle(key, 'stopped');
    assert(this.pending.size === 0, 'nothing pending after clear');
  }

  private onTimeout(key: string, entry: Pending): void {
    if (this.pending.get(key) !== entry) return;
    if (entry.retransmits >= this.options.retransmitMax) {
      this.settle(key, 'timeout');
      return;
    }
    entry.retransmits += 1;
    entry.timer = this.timers.setTimer(this.options.ackTimeoutMs * 2 ** entry.retransmits, () =>
      this.onTimeout(key, entry),
    );
    this.transmit(entry.bytes, entry.peer);
  }

  private settle(key: string, outcome: ConfirmableOutcome): boolean {
    const entry = this.pending.get(key);
    if (entry === undefined) return false;
    this.pending.delete(key);
    entry.timer.cancel();
    entry.settle(outcome);
    return true;
  }
}
