/**
 * The server's empty ACKs to confirmable requests it cannot answer soon (RFC 7252 §5.2.2;
 * CoapServerOptions.separateBodyResponses): a request still waiting on its handler
 * SEPARATE_RESPONSE_AFTER_MS after it arrived is acknowledged with an empty ACK, and its response
 * then goes separately. One that is answered sooner is answered piggybacked, as any other: at one
 * client a 64 KiB write is answered in 3 ms, and an empty ACK to each, with the client's ACK of
 * the separate response, cost it 2-5 % of its writes/s (bench ab-coraft, 1 x 64 KiB).
 *
 * The requests are kept in arrival order, which is also the order their delays end in, and one
 * timer runs while any waits: no timer per request. The tables hold at most the server's requests
 * in flight (requestsInFlightMax); the queue also holds a small slot (not the request) for each
 * answered within the last delay. (A queue of the requests themselves kept up to a thousand
 * answered ones, bodies and all, until it was cut down: the leader's peak RssAnon rose by 55-62
 * MiB at 64 KiB values.)
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { FrontQueue } from '../../contracts/front-queue.js';

/**
 * How long a request may wait on its handler before it is acknowledged, ms: well within the
 * first retransmission timeout of coraft's client (500 ms, drawn up to 750) and RFC 7252's (2 s),
 * even when the event loop runs the timer late under load.
 */
export const SEPARATE_RESPONSE_AFTER_MS = 100;

/** A request in the queue; null once answered or acknowledged: the queue holds no request (nor its body) past that. */
interface Slot<E> {
  request: E | null;
  readonly arrivedAtMs: number;
}

/** Requests waiting on their handler, acknowledged once they waited too long; see the module comment. */
export class DelayedAcks<E extends object> {
  /** Slots in arrival order. */
  private readonly queue = new FrontQueue<Slot<E>>();
  /** Requests not yet answered nor acknowledged, and their slots. */
  private readonly waiting = new Map<E, Slot<E>>();
  /** Requests acknowledged and not yet answered. */
  private readonly acknowledged = new Set<E>();
  private timer: TimerHandle | null = null;

  constructor(
    private readonly timers: Timers,
    private readonly ack: (request: E) => void,
  ) {}

  /** True when no request is waiting or acknowledged: `answered` need not be asked. */
  get isEmpty(): boolean {
    return this.waiting.size === 0 && this.acknowledged.size === 0;
  }

  /** `request` waits on its handler from now on. */
  watch(request: E): void {
    const slot = { request, arrivedAtMs: this.timers.nowMs() };
    this.waiting.set(request, slot);
    this.queue.push(slot);
    if (this.timer === null) this.arm(SEPARATE_RESPONSE_AFTER_MS);
  }

  /** `request`'s handler answered: true when it was acknowledged already (its response goes separately). */
  answered(request: E): boolean {
    const slot = this.waiting.get(request);
    if (slot === undefined) return this.acknowledged.delete(request);
    slot.request = null;
    this.waiting.delete(request);
    return false;
  }

  /** Forgets every request (the server stopped). */
  clear(): void {
    this.timer?.cancel();
    this.timer = null;
    this.waiting.clear();
    this.acknowledged.clear();
    this.queue.clear();
  }

  private arm(delayMs: number): void {
    this.timer = this.timers.setTimer(Math.max(0, delayMs), () => this.due());
  }

  /** Acknowledges the requests that waited SEPARATE_RESPONSE_AFTER_MS and still wait. */
  private due(): void {
    this.timer = null;
    const cutoff = this.timers.nowMs() - SEPARATE_RESPONSE_AFTER_MS;
    for (let slot = this.queue.first(); slot !== undefined && slot.arrivedAtMs <= cutoff; slot = this.queue.first()) {
      this.queue.shift();
      const request = slot.request;
      if (request === null) continue;
      slot.request = null;
      this.waiting.delete(request);
      this.acknowledged.add(request);
      this.ack(request);
    }
    const next = this.queue.first();
    if (next === undefined) return;
    this.arm(next.arrivedAtMs + SEPARATE_RESPONSE_AFTER_MS - this.timers.nowMs());
  }
}
