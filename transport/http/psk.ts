/**
 * TLS 1.2 PSK for the `https` transport: peers authenticate with the same pre-shared keys as
 * DTLS, so no certificate authority is involved. Node's PSK support is TLS 1.2 only, hence
 * the pinned protocol version. The default cipher list prefers ECDHE-PSK (forward secrecy)
 * and keeps plain PSK-AES128-GCM for peers without it.
 */
import { constants as cryptoConstants, randomBytes } from 'node:crypto';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import { NetworkError, describeError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';

/** The server side's keys. */
export interface PskServerCredentials {
  /**
   * The key of a client identity (a node id), or null to refuse the handshake; `peer` is where
   * the connection comes from (unauthenticated: for logs).
   */
  keyForIdentity(identity: string, peer: { readonly address: string; readonly port: number }): Uint8Array | null;
  /** The PSK identity hint sent to clients. Default none. */
  readonly identityHint?: string;
}

/** The client side's identity and keys. */
export interface PskClientCredentials {
  /** The identity this node presents: its node id. */
  readonly identity: NodeId;
  /** The key shared with a peer, or null when there is none (the request fails NET_AUTH). */
  keyForPeer(peer: NodeId): Uint8Array | null;
}

/** Length of the stand-in key of an unknown identity, in bytes. */
const UNKNOWN_IDENTITY_KEY_BYTES = 32;

/** The default TLS 1.2 PSK cipher suites, in preference order. */
export const DEFAULT_PSK_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:PSK-AES128-GCM-SHA256';

/** TLS options of a PSK server; `onIdentity` learns which identity each socket authenticated. */
export function pskServerTlsOptions(
  credentials: PskServerCredentials,
  ciphers: string,
  onIdentity: (socket: TLSSocket, identity: string) => void,
): TlsOptions {
  return {
    ciphers,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    // A resumed session skips pskCallback, so its socket would carry no identity: every
    // connection runs the full PSK handshake (no tickets; the session cache is off in the
    // server). Renegotiation is refused (a no_renegotiation alert): a second handshake on a
    // connection would run pskCallback again and could change the connection's identity.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET | cryptoConstants.SSL_OP_NO_RENEGOTIATION,
    ...(credentials.identityHint === undefined ? {} : { pskIdentityHint: credentials.identityHint }),
    pskCallback: (socket, identity) => {
      const key = credentials.keyForIdentity(identity, {
        address: socket.remoteAddress ?? '',
        port: socket.remotePort ?? 0,
      });
      if (key !== null && key.length > 0) {
        onIdentity(socket, identity);
        return key;
      }
      // RFC 4279 §2: rather than an unknown_psk_identity alert, which would tell anyone which
      // names exist, go on "as if the PSK identity existed but the key was incorrect": a fresh
      // random key that no client holds fails at the client's Finished exactly as a wrong key.
      return randomBytes(UNKNOWN_IDENTITY_KEY_BYTES);
    },
  };
}

/** TLS options of a PSK client talking to `peer`. */
export function pskClientTlsOptions(
  credentials: PskClientCredentials,
  peer: NodeId,
  ciphers: string,
): ConnectionOptions {
  return {
    ciphers,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    pskCallback: () => {
      const psk = credentials.keyForPeer(peer);
      return psk === null ? null : { identity: credentials.identity, psk };
    },
    // The server proves it holds the key in the handshake's Finished message; there is no
    // certificate whose names could be checked.
    checkServerIdentity: () => undefined,
  };
}

/** Maps a socket or TLS failure to NetworkError: a refused handshake is NET_AUTH. */
export function networkErrorOf(error: unknown, where: string): NetworkError {
  if (error instanceof NetworkError) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  const message = describeError(error);
  const tls =
    code.startsWith('ERR_SSL') ||
    code.startsWith('ERR_TLS') ||
    (code === 'EPROTO' && /alert|psk|handshake/i.test(message));
  return new NetworkError(
    tls ? 'NET_AUTH' : 'NET_UNREACHABLE',
    `${where}: ${code === '' ? '' : `${code} `}${message}`,
    { cause: error },
  );
}
