/**
 * What a client request may carry into the leader (SECURITY.md): a peer's ClientForward, like
 * a local client's request, may read and write ordinary keys only. A write that is an admin
 * entry (only the leader builds those, from a verified signed command) or that names a
 * reserved `.coraft/` key is refused before it is proposed; the state machine refuses the same
 * again at apply, whoever proposed it. So is a quota command (agent/kv/quota.ts): only a leader
 * proposes one, from its own agent.json, never a client or a peer's forward (the state machine
 * cannot tell who proposed an entry, so this check is what keeps the quota the leaders').
 * Admin requests carry their own authority, a signature, which the leader verifies
 * (agent/runtime/admin.ts).
 */
import type { ForwardKind } from '../../contracts/messages.js';
import { SerializationError } from '../../contracts/errors.js';
import { decodeKvQuery, decodeQuotaCommand } from '../kv/index.js';
import { isSystemKey, SYSTEM_KEY_PREFIX } from '../membership/keystore.js';
import { decodeAdminEntry } from './trust-codec.js';
import { ADMIN_MARKER, reservedKeyOf } from './trusted-state-machine.js';

function isAdminEntry(payload: Uint8Array): boolean {
  // The state machine takes a command for an admin entry only when it holds ADMIN_MARKER (the op
  // 'admin' as a CBOR text string); one without it would apply as a key-value command, so it is
  // no admin entry, and the leader skips decoding every client write a second time.
  if (!Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).includes(ADMIN_MARKER)) return false;
  try {
    return decodeAdminEntry(payload) !== null;
  } catch (error) {
    // A map that claims to be an admin entry but is malformed is refused all the same.
    if (error instanceof SerializationError) return true;
    throw error;
  }
}

function isQuotaCommand(payload: Uint8Array): boolean {
  try {
    return decodeQuotaCommand(payload) !== null;
  } catch (error) {
    // A map that claims to be a quota command but is malformed is refused all the same.
    if (error instanceof SerializationError) return true;
    throw error;
  }
}

function readsReservedKey(payload: Uint8Array): boolean {
  try {
    const query = decodeKvQuery(payload);
    // A lease's keys are ordinary keys: reserved ones are never attached to a lease.
    if (query.op === 'lease') return false;
    return isSystemKey(query.op === 'get' ? query.key : query.prefix);
  } catch (error) {
    // Not a query: the state machine answers KV_MALFORMED, which reveals nothing.
    if (error instanceof SerializationError) return false;
    throw error;
  }
}

/** Why a client request of `kind` must not run, or null when it may. */
export function clientRequestRefusal(kind: ForwardKind, payload: Uint8Array): string | null {
  switch (kind) {
    case 'write':
      if (isAdminEntry(payload))
        return 'a client write may not carry an admin entry: send the signed command as an admin request';
      if (reservedKeyOf(payload) !== null) return `keys under ${SYSTEM_KEY_PREFIX} are reserved for the agent`;
      if (isQuotaCommand(payload)) return 'a client write may not set the quota: the leader proposes its quotaBytes';
      return null;
    case 'read':
      return readsReservedKey(payload) ? `keys under ${SYSTEM_KEY_PREFIX} are reserved for the agent` : null;
    case 'admin':
      return null;
  }
}
