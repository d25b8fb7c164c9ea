/**
 * The socket callbacks of DatagramEndpoint.post: one per `onFailure`, not one per datagram. The
 * last one made is kept, so a caller that passes the same `onFailure` with every send (the CoAP
 * server does) makes no closure per datagram. A socket error reaches `onFailure` as the
 * NET_UNREACHABLE the endpoint's `send` would reject with.
 */
import { NetworkError } from '../contracts/errors.js';

/** Makes and keeps post's socket callback; see the module comment. */
export class PostCallbacks {
  private failure: ((error: Error) => void) | null = null;
  private callback: (error: Error | null) => void = () => undefined;

  /**
   * `what` names the send in the error ("udp send", "send"); `afterSend` runs when the socket is
   * done with a datagram, whether it failed or not.
   */
  constructor(
    private readonly what: string,
    private readonly afterSend: () => void = () => undefined,
  ) {}

  /** The socket callback that tells `onFailure` of an error. */
  of(onFailure: (error: Error) => void): (error: Error | null) => void {
    if (this.failure !== onFailure) {
      this.failure = onFailure;
      this.callback = (error) => {
        this.afterSend();
        if (error !== null)
          onFailure(new NetworkError('NET_UNREACHABLE', `${this.what} failed: ${error.message}`, { cause: error }));
      };
    }
    return this.callback;
  }
}
