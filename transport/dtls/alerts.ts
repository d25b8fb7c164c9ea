/**
 * What a session does with an alert it received (RFC 5246 §7.2, RFC 6347 §4.1.2.7), as a pure
 * decision over the session's role and state and the alert's epoch, level and description.
 */
import { AlertDescription, AlertLevel } from './constants.js';
import type { FailureKind } from './handshake-common.js';

/** Where the receiving session stands. */
export interface AlertContext {
  readonly role: 'client' | 'server';
  readonly established: boolean;
  /** The epoch the alert came in: 0 is unauthenticated. */
  readonly epoch: number;
  /** A client that has not yet read any handshake message of the server in this handshake. */
  readonly serverSilentSoFar: boolean;
}

/** The decision about one alert. */
export type AlertVerdict =
  /** Drop it (counted as unexpected). */
  | { readonly kind: 'ignore' }
  /** A warning that changes nothing. */
  | { readonly kind: 'warning' }
  /** close_notify: answer it if established, and end the session. */
  | { readonly kind: 'close'; readonly reason: 'peer-closed' | 'protocol' }
  /** A fatal alert: end the session. */
  | { readonly kind: 'fatal'; readonly reason: 'peer-alert' | FailureKind };

/** Alerts received during a handshake that mean the key or identity was refused. */
const AUTH_ALERTS: ReadonlySet<number> = new Set([
  AlertDescription.badRecordMac,
  AlertDescription.decryptError,
  AlertDescription.unknownPskIdentity,
]);

/** Decides what to do with an alert of `level` and `description`. */
export function judgeAlert(context: AlertContext, level: number, description: number): AlertVerdict {
  if (context.established && context.epoch === 0) {
    // An unauthenticated alert on an established session. A server ignores it. A client takes
    // a fatal one as the sign that the server lost the session (it restarted and cannot read
    // our records); a forger gains only a new handshake.
    return context.role === 'client' && level === AlertLevel.fatal
      ? { kind: 'fatal', reason: 'peer-alert' }
      : { kind: 'ignore' };
  }
  if (
    context.role === 'client' &&
    !context.established &&
    context.epoch === 0 &&
    context.serverSilentSoFar &&
    description === AlertDescription.unexpectedMessage
  ) {
    // Before the server answered this handshake, this alert is a late answer to records of a
    // session it lost (DtlsServerEndpoint's unknown-session alert), not a refusal.
    return { kind: 'ignore' };
  }
  // RFC 5246 §7.2.1: close_notify is answered with close_notify and the session closes.
  if (description === AlertDescription.closeNotify)
    return { kind: 'close', reason: context.established ? 'peer-closed' : 'protocol' };
  if (level !== AlertLevel.fatal) return { kind: 'warning' };
  if (context.established) return { kind: 'fatal', reason: 'peer-alert' };
  return { kind: 'fatal', reason: AUTH_ALERTS.has(description) ? 'auth' : 'protocol' };
}
