/**
 * The client's side of Observe (RFC 7641): the observations a CoapClient holds once their
 * registration was answered 2.xx with an Observe option, matched by token and peer. A
 * notification for one of them goes to its listener (the client acknowledges a confirmable
 * one first, §3.5); a notification nobody holds is rejected with RST by the client, which is
 * how a cancelled observation ends at the server (§3.6). A final notification (no Observe
 * option, or an error code, §3.2) reaches the listener and ends the observation. At most
 * `OBSERVATIONS_MAX` observations are held.
 */
import { NetworkError } from '../../contracts/errors.js';
import type { DatagramPeer } from '../datagram.js';
import { CoapOption, CoapType, codeClassOf } from './codes.js';
import { sameBytes } from './duplicate-cache.js';
import type { CoapClientResponse, CoapTarget } from './client-exchange.js';
import type { CoapMessage } from './message.js';
import { firstOption, uintOption } from './options.js';
import { toResponse, type CoapClientRequest } from './client-exchange.js';
import { tokenIdOf } from './client-types.js';

/** Most observations one client holds. */
export const OBSERVATIONS_MAX = 64;

/** Receives an observation's notifications (`final`: the observation is over). */
export type NotificationListener = (notification: CoapClientResponse, final: boolean) => void;

/** One observation, from the request that makes it to its cancellation. */
export interface ObservationHandle {
  readonly listener: NotificationListener;
  /** The lookup key of the registration's token, once it is answered; -1 before. */
  tokenId: number;
  token: Uint8Array;
  target: CoapTarget;
}

/** An observation the caller holds. */
export interface CoapObservation {
  /** The answer to the registration (its first representation). */
  readonly response: CoapClientResponse;
  /** True when the server registered the observation (the answer carries Observe). */
  readonly registered: boolean;
  /** Stops taking notifications (the next one is rejected with RST, which ends it at the server). */
  cancel(): void;
}

/** The held observations; see the module comment. */
export class ClientObservations {
  private readonly held = new Map<number, ObservationHandle>();
  /** The observation each outstanding registration makes, by token id. */
  private readonly registering = new Map<number, ObservationHandle>();

  get size(): number {
    return this.held.size;
  }

  /** A handle for a new registration; NET_REJECTED when OBSERVATIONS_MAX are held or being made. */
  newHandle(target: CoapTarget, listener: NotificationListener): ObservationHandle {
    if (this.held.size + this.registering.size >= OBSERVATIONS_MAX)
      throw new NetworkError('NET_REJECTED', `OBSERVATIONS_MAX (${OBSERVATIONS_MAX}) observations already held`);
    return { listener, tokenId: -1, token: new Uint8Array(0), target };
  }

  /** The registration request of a handle: the request with Observe 0 (RFC 7641 §3.1). */
  registration(request: CoapClientRequest): CoapClientRequest {
    return { ...request, options: [...(request.options ?? []), uintOption(CoapOption.Observe, 0)] };
  }

  /** The registration of `handle` went out with this token. */
  sent(handle: ObservationHandle, tokenId: number, token: Uint8Array): void {
    handle.token = token;
    this.registering.set(tokenId, handle);
  }

  /** The request with `tokenId` ended (answered or not); `answer` when answered. */
  settled(tokenId: number, answer: CoapClientResponse | null): void {
    const handle = this.registering.get(tokenId);
    if (handle === undefined) return;
    this.registering.delete(tokenId);
    const registered =
      answer !== null && codeClassOf(answer.code) === 2 && firstOption(answer.options, CoapOption.Observe) !== null;
    if (!registered) return;
    handle.tokenId = tokenId;
    this.held.set(tokenId, handle);
  }

  /** What the caller gets once the registration is answered. */
  observation(handle: ObservationHandle, response: CoapClientResponse): CoapObservation {
    return {
      response,
      registered: this.held.get(handle.tokenId) === handle,
      cancel: () => {
        if (this.held.get(handle.tokenId) === handle) this.held.delete(handle.tokenId);
      },
    };
  }

  /**
   * Takes `message` if it notifies a held observation: `ack` acknowledges a confirmable one,
   * then the listener has it (a final one ends the observation). False when no observation
   * holds it (the caller rejects it).
   */
  notified(message: CoapMessage, peer: DatagramPeer, ack: () => void): boolean {
    if (message.type === CoapType.ACK || message.type === CoapType.RST || message.token.length !== 8) return false;
    const tokenId = tokenIdOf(message.token);
    const handle = this.held.get(tokenId);
    if (handle === undefined || !sameBytes(handle.token, message.token)) return false;
    if (handle.target.address !== peer.address || handle.target.port !== peer.port) return false;
    if (message.type === CoapType.CON) ack();
    const notification = toResponse(message, message.payload, peer);
    const final =
      codeClassOf(notification.code) !== 2 || firstOption(notification.options, CoapOption.Observe) === null;
    if (final) this.held.delete(tokenId);
    handle.listener(notification, final);
    return true;
  }

  clear(): void {
    this.held.clear();
    this.registering.clear();
  }
}
