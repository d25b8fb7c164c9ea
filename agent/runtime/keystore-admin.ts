/**
 * The leader's side of keystore administration: commits a keystore entry (a new or rotated
 * key, or the tombstone of a removed member) to the replicated KV store through the log, so
 * that every member applies it in order (agent/membership/keystore.ts).
 */
import { decodeKvResult, encodeKvCommand } from '../kv/index.js';
import { MembershipError } from '../errors.js';
import type { NodeId } from '../contracts.js';
import { encodeKeystoreKey, encodeKeystoreRevoked, keystoreKey } from '../membership/keystore.js';

/** What committing an entry needs of the node. */
export interface KeystoreWriter {
  submitAnywhere(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** Commits `value` as the keystore entry of `id`; resolves once applied on the node that ran it. */
async function commitEntry(node: KeystoreWriter, id: NodeId, value: Uint8Array, timeoutMs: number): Promise<void> {
  const command = encodeKvCommand({ op: 'put', key: keystoreKey(id), value, returnPrevious: false, session: null, timeMs: Math.floor(Date.now()) });
  const result = decodeKvResult(await node.submitAnywhere(command, timeoutMs));
  if (result.type === 'error') throw new MembershipError(`the keystore entry of ${id} was not written: ${result.code}`);
}

/** Commits `hexKey` as the key of `id` (a new member's key, or a rotated one). */
export function commitKey(node: KeystoreWriter, id: NodeId, hexKey: string, timeoutMs: number): Promise<void> {
  return commitEntry(node, id, encodeKeystoreKey(Uint8Array.from(Buffer.from(hexKey, 'hex'))), timeoutMs);
}

/** Commits the tombstone of `id`'s key, so no member accepts it again. */
export function commitRevocation(node: KeystoreWriter, id: NodeId, timeoutMs: number): Promise<void> {
  return commitEntry(node, id, encodeKeystoreRevoked(), timeoutMs);
}
