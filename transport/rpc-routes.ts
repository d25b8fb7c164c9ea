/**
 * What the peer transports share: one resource per RPC (`/raft/<RpcName>`), peer addresses,
 * checking that a response answers its request, and how a handler's failure is reported.
 */
import { isIP } from 'node:net';
import { InvariantError, NetworkError, RaftError, SerializationError, describeError } from '../contracts/errors.js';
import {
  RPC_OF_REQUEST,
  type RequestMessage,
  type ResponseFor,
  type RpcMessage,
  type RpcName,
} from '../contracts/messages.js';
import type { RpcSerializer } from '../contracts/serializer.js';

/** The first path segment of every peer RPC resource. */
export const RPC_PATH_ROOT = 'raft';

/** The request type each RPC resource accepts (the inverse of RPC_OF_REQUEST). */
export const REQUEST_TYPE_OF_RPC: Readonly<Record<RpcName, RequestMessage['type']>> = {
  RequestVote: 'RequestVoteRequest',
  PreVote: 'PreVoteRequest',
  AppendEntries: 'AppendEntriesRequest',
  InstallSnapshot: 'InstallSnapshotRequest',
  TimeoutNow: 'TimeoutNowRequest',
  ClientForward: 'ClientForwardRequest',
};

/** Every RPC name. */
export const RPC_NAMES: readonly RpcName[] = [
  'RequestVote',
  'PreVote',
  'AppendEntries',
  'InstallSnapshot',
  'TimeoutNow',
  'ClientForward',
];

/** The resource path of an RPC, e.g. "/raft/AppendEntries". */
export function rpcPath(name: RpcName): string {
  return `/${RPC_PATH_ROOT}/${name}`;
}

/** The RPC name in a path's segments ["raft", name], or null. */
export function rpcNameOfSegments(segments: readonly string[]): RpcName | null {
  if (segments.length !== 2 || segments[0] !== RPC_PATH_ROOT) return null;
  return RPC_NAMES.find((name) => name === segments[1]) ?? null;
}

/** True when `response` is the response type of `request` (RPC_OF_REQUEST). */
export function isResponseTo<R extends RequestMessage>(request: R, response: RpcMessage): response is ResponseFor<R> {
  return response.type === RPC_OF_REQUEST[request.type].responseType;
}

/** A peer address split into host and port. */
export interface PeerAddress {
  /** An IP literal (without brackets) or a host name. */
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port", "1.2.3.4:5684" or "[::1]:5684"; null when malformed. */
export function parsePeerAddress(address: string): PeerAddress | null {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(address);
  const match = bracketed ?? plain;
  if (match === null) return null;
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (bracketed !== null && isIP(host) !== 6) return null;
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host.length === 0) return null;
  return { host, port };
}

/** "host:port" with IPv6 addresses in brackets, for logs and InboundContext.remoteAddress. */
export function formatAddress(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** How a failed handler is reported to the peer. */
export type HandlerFailureKind = 'auth' | 'too-large' | 'unavailable' | 'internal';

/**
 * Classifies a handler's failure: NET_AUTH is an authentication failure (the identity does
 * not match the claimed sender), NET_TOO_LARGE and CODEC_LIMIT a body over a limit,
 * RAFT_STOPPED a node shutting down; anything else is internal. A broken invariant is a bug,
 * rethrown so that it stops the process.
 */
export function classifyHandlerError(error: unknown): HandlerFailureKind {
  if (error instanceof InvariantError) throw error;
  if (error instanceof NetworkError && error.code === 'NET_AUTH') return 'auth';
  if (error instanceof NetworkError && error.code === 'NET_TOO_LARGE') return 'too-large';
  if (error instanceof SerializationError && error.code === 'CODEC_LIMIT') return 'too-large';
  if (error instanceof RaftError && error.code === 'RAFT_STOPPED') return 'unavailable';
  return 'internal';
}

/** A short description of a handler's error for a diagnostic payload: its code first, when it has one. */
export function describeHandlerError(error: unknown): string {
  if (error instanceof RaftError) return `${error.code}: ${error.message}`;
  return describeError(error);
}

/** Encodes a request; a message the codec refuses as too large is NET_TOO_LARGE. */
export function encodeRequest(serializer: RpcSerializer, request: RequestMessage): Uint8Array {
  try {
    return serializer.encode(request);
  } catch (error: unknown) {
    throw refusal(request, error);
  }
}

/**
 * `request` encoded as pieces (RpcSerializer.encodeParts), or null when the serializer gives none
 * for it; a codec limit is refused as encodeRequest refuses it.
 */
export function encodeRequestParts(serializer: RpcSerializer, request: RequestMessage): readonly Uint8Array[] | null {
  if (serializer.encodeParts === undefined) return null;
  try {
    return serializer.encodeParts(request);
  } catch (error: unknown) {
    throw refusal(request, error);
  }
}

/** A codec's refusal of `request` as too large is NET_TOO_LARGE; any other error as it is. */
function refusal(request: RequestMessage, error: unknown): unknown {
  if (error instanceof SerializationError && error.code === 'CODEC_LIMIT')
    return new NetworkError('NET_TOO_LARGE', `${request.type} exceeds a codec limit: ${error.message}`, {
      cause: error,
    });
  return error;
}
