/**
 * Observe (RFC 7641) at the local endpoint: registering and cancelling observers, sending
 * their notifications, and dropping observers that are gone. An observer is gone when it
 * rejects a notification with RST (§3.6), when it never acknowledges a confirmable one (§4.5:
 * one in every `observeConfirmableEvery` notifications, and any after
 * `observeConfirmableIntervalMs` without one, is confirmable), or when a notification cannot
 * be sent. The table (observers.ts) bounds the registrations and evicts the oldest, so a new
 * observer always gets in. When the endpoint stops, every observation ends with a final 5.03.
 * Drops and evictions are counted in `endpoint_observers_dropped_total{reason}` and the table's
 * size in `endpoint_observers`.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse, CoapServer } from '../../transport/coap/index.js';
import type { DatagramPeer } from '../../transport/datagram.js';
import type { Clock } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';
import { ObserverTable, type Registration } from './observers.js';
import { errorResponse } from './responses.js';

/** The options Observe uses (see LocalEndpointOptions). */
export interface ObserveOptions {
  readonly observersMax: number;
  readonly observersPerPeerMax: number;
  readonly observeConfirmableEvery: number;
  readonly observeConfirmableIntervalMs: number;
}

/** Why an observer left the table. */
type DropReason = 'observersMax' | 'observersPerPeerMax' | 'reset' | 'unacknowledged' | 'send-failed';

/** The endpoint's observers; see the module comment. */
export class Observations {
  private readonly table: ObserverTable;

  constructor(
    private readonly server: CoapServer,
    private readonly clock: Clock,
    private readonly metrics: Metrics | null,
    private readonly options: ObserveOptions,
    onRemove: (registration: Registration) => void = () => undefined,
  ) {
    this.table = new ObserverTable(options, onRemove);
    server.onReset((peer, messageId) => this.onReset(peer, messageId));
  }

  /** Registrations held. */
  size(): number {
    return this.table.size();
  }

  /**
   * Registers or deregisters the sender of `request` as it asks (Observe 0 or 1, RFC 7641 §2);
   * returns the Observe value for the response, or null when the response carries none.
   */
  observe(resource: string, request: CoapRequest): number | null {
    const registration = this.register(resource, request);
    return registration === null ? null : this.table.nextSeq(registration);
  }

  /**
   * Like `observe`, but gives the registration itself (null when the request does not register);
   * the caller takes the response's Observe value with `nextSeq`.
   */
  register(resource: string, request: CoapRequest): Registration | null {
    if (request.observe === 1) this.table.deregister(resource, request.peer, request.token);
    if (request.observe !== 0) return null;
    const { registration, evicted } = this.table.register(resource, request.peer, request.token, this.clock.nowMs());
    for (const gone of evicted) this.count(gone.reason);
    this.gauge();
    return registration;
  }

  /** The Observe value of the next message to `registration`, advancing it. */
  nextSeq(registration: Registration): number {
    return this.table.nextSeq(registration);
  }

  /** Whether `registration` is still held. */
  holds(registration: Registration): boolean {
    return this.table.holds(registration);
  }

  /**
   * Sends `response(seq)` to `registration` as a confirmable notification (every one, unlike
   * `notify`); resolves true once the observer acknowledged it (or it went non-confirmable
   * because the server's notificationsPendingMax was reached), false when the observer is gone
   * (RST, no ACK after the retransmissions, or a failed send: it is dropped and counted).
   */
  async sendConfirmable(registration: Registration, response: (seq: number) => CoapResponse): Promise<boolean> {
    if (!this.table.holds(registration)) return false;
    registration.sinceConfirmable = 0;
    registration.confirmableAtMs = this.clock.nowMs();
    let sent;
    try {
      sent = await this.server.notify(
        registration.peer,
        registration.token,
        response(this.nextSeq(registration)),
        true,
      );
    } catch {
      this.drop(registration, 'send-failed');
      return false;
    }
    if (!sent.confirmable) {
      this.table.noteMessageId(registration, sent.messageId);
      return this.table.holds(registration);
    }
    const outcome = await sent.outcome;
    if (outcome === 'reset' || outcome === 'timeout')
      this.drop(registration, outcome === 'reset' ? 'reset' : 'unacknowledged');
    return outcome !== 'stopped' && this.table.holds(registration);
  }

  /** Ends `registration` with a final notification (an error: no Observe value, RFC 7641 §4.2). */
  end(registration: Registration, response: CoapResponse): void {
    if (!this.table.remove(registration)) return;
    this.gauge();
    this.server.notify(registration.peer, registration.token, response).catch(() => this.count('send-failed'));
  }

  /** Ends the observation `request` would have made or refreshed (its answer is an error). */
  cancel(resource: string, request: CoapRequest): void {
    if (this.table.deregister(resource, request.peer, request.token)) this.gauge();
  }

  /** The observed resources whose names start with `prefix` (e.g. "/kv/"). */
  resourcesUnder(prefix: string): string[] {
    return this.table.resourcesUnder(prefix);
  }

  /** Whether anyone observes `resource`. */
  observed(resource: string): boolean {
    return this.table.observersOf(resource).length > 0;
  }

  /**
   * Notifies every observer of `resource` with `response(seq)`. A `final` notification (an
   * error: non-2.xx, RFC 7641 §4.2) carries no Observe value and ends every observation.
   */
  notify(resource: string, response: (seq: number | null) => CoapResponse, final = false): void {
    for (const registration of this.table.observersOf(resource)) {
      if (final) {
        this.table.remove(registration);
        // The observation is over whether or not this last message leaves: a client that
        // misses it stops trusting the resource when its Max-Age runs out (RFC 7641 §3.3.1).
        this.server
          .notify(registration.peer, registration.token, response(null))
          .catch(() => this.count('send-failed'));
        continue;
      }
      this.send(registration, response(this.table.nextSeq(registration)));
    }
    if (final) this.gauge();
  }

  /**
   * Ends every observation with `response`, a final notification (the endpoint stops): each
   * observer learns at once that nothing more will come and can observe again elsewhere, instead of
   * waiting for its last Max-Age to run out. Resolves once every message was handed to the socket.
   */
  async endAll(response: CoapResponse): Promise<void> {
    const held = this.table.registrations();
    this.clear();
    if (!this.server.isRunning()) return;
    const sent = held.map((r) => this.server.notify(r.peer, r.token, response).catch(() => this.count('send-failed')));
    await Promise.all(sent);
  }

  /** Forgets every observer. */
  clear(): void {
    this.table.clear();
    this.gauge();
  }

  private send(registration: Registration, response: CoapResponse): void {
    const nowMs = this.clock.nowMs();
    const due =
      registration.sinceConfirmable + 1 >= this.options.observeConfirmableEvery ||
      nowMs - registration.confirmableAtMs >= this.options.observeConfirmableIntervalMs;
    // At most one confirmable notification in flight per observer (RFC 7641 §4.5.2): newer
    // ones go non-confirmable meanwhile, and the client orders them by their Observe values.
    const confirmable = due && !registration.confirmablePending;
    if (confirmable) {
      registration.confirmablePending = true;
      registration.sinceConfirmable = 0;
      registration.confirmableAtMs = nowMs;
    } else {
      registration.sinceConfirmable += 1;
    }
    this.server.notify(registration.peer, registration.token, response, confirmable).then(
      (sent) => {
        if (!sent.confirmable) {
          if (confirmable) registration.confirmablePending = false;
          this.table.noteMessageId(registration, sent.messageId);
          return;
        }
        return sent.outcome.then((outcome) => {
          registration.confirmablePending = false;
          if (outcome === 'reset' || outcome === 'timeout')
            this.drop(registration, outcome === 'reset' ? 'reset' : 'unacknowledged');
        });
      },
      // A notification that cannot be sent ends the registration (RFC 7641 §4.5).
      () => this.drop(registration, 'send-failed'),
    );
  }

  private onReset(peer: DatagramPeer, messageId: number): void {
    const registration = this.table.byMessageId(peer, messageId);
    if (registration !== undefined) this.drop(registration, 'reset');
  }

  private drop(registration: Registration, reason: DropReason): void {
    if (!this.table.remove(registration)) return;
    this.count(reason);
    this.gauge();
  }

  private count(reason: DropReason): void {
    this.metrics?.increment('endpoint_observers_dropped_total', 1, { reason });
  }

  private gauge(): void {
    this.metrics?.setGauge('endpoint_observers', this.table.size());
  }
}

/**
 * The answer to Observe of a missing key: 4.04 at once, with no registration (RFC 7641 §4.1
 * registers only on a 2.xx), naming the watch resource that waits for a key to appear.
 */
export function missingObserved(key: string): CoapResponse {
  const named = key.length <= 64 ? encodeURIComponent(key) : 'KEY';
  return errorResponse(CoapResponseCode.NotFound, `no such key; to wait for it, observe GET /watch?key=${named}`);
}
