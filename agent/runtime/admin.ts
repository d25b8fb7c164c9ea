/**
 * Cluster administration commands that any node accepts and the leader executes: add or remove
 * a member, rotate a member's key, hand leadership to another voter. They travel to the leader
 * as ClientForward requests of kind `admin`, encoded as small JSON documents parsed strictly
 * on arrival. A command carrying a PSK (`psk`, hex) is never logged; the key is committed to
 * the cluster keystore (agent/membership/keystore.ts) before the membership change it serves.
 */
import { isValidNodeId } from '../core/membership.js';
import { isHexKey } from '../membership/keystore.js';
import { SerializationError } from '../errors.js';
import type { NodeId } from '../contracts.js';

/** One administration command. */
export type AdminCommand =
  | { readonly op: 'add-member'; readonly id: NodeId; readonly address: string; readonly learner: boolean; readonly psk: string | null }
  | { readonly op: 'remove-member'; readonly id: NodeId }
  | { readonly op: 'rekey-member'; readonly id: NodeId; readonly psk: string }
  | { readonly op: 'transfer-leadership'; readonly to: NodeId | null };

/** The result of an administration command. */
export interface AdminResult {
  /** The leader after the command (for a transfer: the new leader). */
  readonly leader: NodeId | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeAdminCommand(command: AdminCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function encodeAdminResult(result: AdminResult): Uint8Array {
  return encoder.encode(JSON.stringify(result));
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  if (bytes.byteLength > 4096) throw new SerializationError('CODEC_LIMIT', `${what} larger than 4096 bytes`);
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new SerializationError('CODEC_MALFORMED', `${what} is not JSON`, { cause: error });
  }
}

/** Parses an administration command; throws SerializationError naming what is wrong. */
export function decodeAdminCommand(bytes: Uint8Array): AdminCommand {
  const value = parseJson(bytes, 'admin command');
  if (typeof value !== 'object' || value === null) throw new SerializationError('CODEC_MALFORMED', 'admin command is not an object');
  const field = (name: string): unknown => Reflect.get(value, name);
  const id = field('id');
  switch (field('op')) {
    case 'add-member': {
      const address = field('address');
      const learner = field('learner');
      if (!isValidNodeId(id)) throw new SerializationError('CODEC_MALFORMED', 'add-member: id must be 1 to 64 printable characters');
      if (typeof address !== 'string' || address.length > 255) throw new SerializationError('CODEC_MALFORMED', 'add-member: address must be a "host:port" string');
      if (typeof learner !== 'boolean') throw new SerializationError('CODEC_MALFORMED', 'add-member: learner must be a boolean');
      const psk = field('psk') ?? null;
      if (psk !== null && !isHexKey(psk)) throw new SerializationError('CODEC_MALFORMED', 'add-member: psk must be a key of 16 to 64 bytes as hex');
      return { op: 'add-member', id, address, learner, psk };
    }
    case 'rekey-member': {
      const psk = field('psk');
      if (!isValidNodeId(id)) throw new SerializationError('CODEC_MALFORMED', 'rekey-member: id must be 1 to 64 printable characters');
      if (!isHexKey(psk)) throw new SerializationError('CODEC_MALFORMED', 'rekey-member: psk must be a key of 16 to 64 bytes as hex');
      return { op: 'rekey-member', id, psk };
    }
    case 'remove-member':
      if (!isValidNodeId(id)) throw new SerializationError('CODEC_MALFORMED', 'remove-member: id must be 1 to 64 printable characters');
      return { op: 'remove-member', id };
    case 'transfer-leadership': {
      const to = field('to');
      if (to !== null && !isValidNodeId(to)) throw new SerializationError('CODEC_MALFORMED', 'transfer-leadership: to must be a node id or null');
      return { op: 'transfer-leadership', to };
    }
    default:
      throw new SerializationError('CODEC_MALFORMED', 'admin command: unknown op');
  }
}

export function decodeAdminResult(bytes: Uint8Array): AdminResult {
  const value = parseJson(bytes, 'admin result');
  const leader: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'leader') : undefined;
  if (leader !== null && !isValidNodeId(leader)) throw new SerializationError('CODEC_MALFORMED', 'admin result: leader must be a node id or null');
  return { leader };
}
