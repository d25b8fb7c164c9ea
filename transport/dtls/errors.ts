/**
 * The errors of the DTLS component: DtlsError, a RaftError with the alert involved.
 */
import { RaftError, type RaftErrorOptions } from '../../contracts/errors.js';

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
