/**
 * Errors and assertions of the DTLS component. Components import only `agent/contracts.ts`
 * from agent/, so the assertion helper lives here, throwing the project's `InvariantError`.
 */
import { InvariantError, RaftError } from '../../agent/contracts.js';
import type { RaftErrorOptions } from '../../agent/contracts.js';

/** Throws InvariantError with `message` unless `condition` holds. A failure is a bug. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks a branch the type system proves unreachable. */
export function assertNever(value: never, message = 'unexpected value'): never {
  throw new InvariantError(`${message}: ${String(value)}`);
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
