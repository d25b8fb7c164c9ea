/**
 * The errors of the DTLS component: DtlsError, a RaftError with the alert involved, and the
 * NetworkErrors both endpoints' sends fail with.
 */
import { NetworkError, RaftError, type RaftErrorOptions } from '../../contracts/errors.js';

/** A send to a peer without an established session (a server cannot start one). */
export function noSession(address: string, port: number): NetworkError {
  return new NetworkError('NET_UNREACHABLE', `no DTLS session with ${address}:${port}`);
}

/** A datagram beyond applicationDataBytesMax (or what one record carries). */
export function datagramTooLarge(data: Uint8Array): NetworkError {
  return new NetworkError('NET_TOO_LARGE', `datagram of ${data.length} bytes exceeds applicationDataBytesMax`);
}

/**
 * A DTLS operating error: an alert sent or received (`DTLS_ALERT`), a failed handshake
 * (`DTLS_HANDSHAKE`) or a limit reached (`DTLS_LIMIT`). `alert` names the alert description
 * involved, when there is one.
 */
export class DtlsError extends RaftError {
  readonly alert: number | null;

  constructor(
    code: 'DTLS_ALERT' | 'DTLS_HANDSHAKE' | 'DTLS_LIMIT',
    message: string,
    alert: number | null = null,
    options: RaftErrorOptions = {},
  ) {
    super(code, message, options);
    this.alert = alert;
  }

  override get name(): string {
    return 'DtlsError';
  }
}
