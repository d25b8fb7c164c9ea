/**
 * Options of {@link DtlsClientEndpoint}, their defaults and their validation.
 */
import { CONNECTION_ID_BYTES_MAX } from './constants.js';
import { Problems, checkPsk, checkReceiveBuffer, resolveSessionOptions, stripUndefined } from './options.js';
import type { DtlsSessionOptions, ResolvedSessionOptions } from './options.js';

/** Options of a DTLS client endpoint. */
export interface DtlsClientOptions extends DtlsSessionOptions {
  /** The PSK identity this client presents (the node id); UTF-8, at most pskIdentityBytesMax bytes. */
  readonly identity: string;
  /** The pre-shared key of `identity` toward every server; 1..256 bytes. Give this or `pskForPeer`. */
  readonly psk?: Uint8Array;
  /**
   * The pre-shared key of `identity` toward the server at `address:port` (each pair of peers
   * may share its own key), or null to refuse to connect there (the send fails NET_AUTH).
   * Asked once per new session. Give this or `psk`.
   */
  readonly pskForPeer?: (address: string, port: number) => Uint8Array | null;
  /** Address to bind the socket to. Default '0.0.0.0'. */
  readonly bindAddress?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  readonly bindPort?: number;
  /**
   * The receive buffer to ask the kernel for (SO_RCVBUF), bytes, or null for the system's
   * default (net.core.rmem_default, 208 KiB on Linux). Datagrams that arrive while it is full
   * are dropped and cost the sender a retransmission timeout, so a busy endpoint wants room
   * for a burst. Linux caps the request at net.core.rmem_max and reports twice what it grants
   * (see receiveBufferBytes()). Default null; 4096..67108864.
   */
  readonly receiveBufferBytes?: number | null;
  /** Most sessions (established or handshaking) with distinct peers. Default 64; 1..65536. */
  readonly sessionsMax?: number;
  /** Most datagrams queued per peer while its handshake runs. Default 32; 1..4096. */
  readonly queuedDatagramsMax?: number;
  /**
   * How many times a handshake with datagrams waiting on it starts over when the server
   * answers it with a fatal unexpected_message alert in plaintext, which is how our server
   * says it lost the handshake (pushed out by newer ones during a flood, or expired). The
   * alert is unauthenticated, but a forger could end the handshake anyway; starting over
   * costs only a new cookie exchange. Default 3; 0..20.
   */
  readonly handshakeRestartsMax?: number;
  /**
   * The connection_id extension (RFC 9146) this client offers: the length of the CID it asks
   * servers to put in records to it, in bytes, or null to offer no extension. With 0 it asks
   * for none but takes the server's, so that its records reach their session after its own
   * address or port changes (a NAT rebinding); it recognises a server by its address and needs
   * none of its own. Default 0; null or 0..32.
   */
  readonly connectionIdBytes?: number | null;
}

/** Client options with every default filled in. */
export interface ResolvedClientOptions {
  readonly session: ResolvedSessionOptions;
  readonly identity: string;
  /** The key toward `address:port`, or null when there is none. */
  readonly pskFor: (address: string, port: number) => Uint8Array | null;
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly receiveBufferBytes: number | null;
  readonly sessionsMax: number;
  readonly queuedDatagramsMax: number;
  readonly handshakeRestartsMax: number;
  readonly connectionIdBytes: number | null;
}

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveClientOptions(options: DtlsClientOptions): ResolvedClientOptions {
  const problems = new Problems();
  const session = resolveSessionOptions(options, problems);
  const o = {
    bindAddress: '0.0.0.0',
    bindPort: 0,
    receiveBufferBytes: null,
    sessionsMax: 64,
    queuedDatagramsMax: 32,
    handshakeRestartsMax: 3,
    connectionIdBytes: 0,
    ...stripUndefined(options),
  };
  const identityBytes = typeof options.identity === 'string' ? new TextEncoder().encode(options.identity).length : 0;
  problems.check(
    identityBytes > 0 && identityBytes <= session.pskIdentityBytesMax,
    `identity must be 1..${session.pskIdentityBytesMax} UTF-8 bytes`,
  );
  const hasPsk = options.psk !== undefined;
  const hasLookup = options.pskForPeer !== undefined;
  problems.check(hasPsk !== hasLookup, 'give exactly one of psk and pskForPeer');
  if (options.psk instanceof Uint8Array) checkPsk('psk', options.psk, problems);
  else problems.check(!hasPsk, 'psk must be a Uint8Array');
  problems.check(!hasLookup || typeof options.pskForPeer === 'function', 'pskForPeer must be a function');
  problems.check(
    typeof o.bindAddress === 'string' && o.bindAddress.length > 0,
    'bindAddress must be a non-empty address',
  );
  problems.int('bindPort', o.bindPort, 0, 65_535);
  checkReceiveBuffer(o.receiveBufferBytes, problems);
  problems.int('sessionsMax', o.sessionsMax, 1, 65_536);
  problems.int('queuedDatagramsMax', o.queuedDatagramsMax, 1, 4096);
  problems.int('handshakeRestartsMax', o.handshakeRestartsMax, 0, 20);
  // null (left in by stripUndefined) turns the extension off.
  const cidBytes = options.connectionIdBytes === null ? null : o.connectionIdBytes;
  if (cidBytes !== null) problems.int('connectionIdBytes', cidBytes, 0, CONNECTION_ID_BYTES_MAX);
  problems.throwIfAny();
  return {
    session,
    identity: options.identity,
    pskFor: pskLookupOf(options),
    bindAddress: o.bindAddress,
    bindPort: o.bindPort,
    receiveBufferBytes: o.receiveBufferBytes,
    sessionsMax: o.sessionsMax,
    queuedDatagramsMax: o.queuedDatagramsMax,
    handshakeRestartsMax: o.handshakeRestartsMax,
    connectionIdBytes: cidBytes,
  };
}

/** The key choice of validated options: the one key, or the per-peer lookup (its answers checked too). */
function pskLookupOf(options: DtlsClientOptions): (address: string, port: number) => Uint8Array | null {
  const lookup = options.pskForPeer;
  if (lookup !== undefined) {
    return (address, port) => {
      const key = lookup(address, port);
      return key !== null && key.byteLength >= 1 && key.byteLength <= 256 ? key : null;
    };
  }
  const psk = Uint8Array.from(options.psk ?? new Uint8Array(0));
  return () => psk;
}
