/**
 * What the agent lets a witness see (agent/core/witness.ts): configuration entries and signed
 * admin entries whole, every key-value command without its payload, snapshots without data.
 *
 * Admin entries are kept because they carry what a witness needs to keep talking to the other
 * members and nothing of the clients' data: the link keys of members added or rekeyed after the
 * witness (each wrapped for its holder; the witness opens only its own), revocations and admin
 * key rotations. A witness that had to take a snapshot restores an empty key-value state and a
 * trust state rebuilt from the snapshot's configuration (TrustedStateMachine.restore), so
 * removed members stay revoked; links that reached it only through entries compacted into that
 * snapshot come from its keystore cache or its bundle.
 */
import { SerializationError } from '../../contracts/errors.js';
import type { LogEntry } from '../../contracts/log.js';
import { STRIPPED_WITNESS_VIEW, type WitnessView } from '../core/witness.js';
import { ADMIN_MARKER } from './trusted-state-machine.js';
import { decodeAdminEntry } from './trust-codec.js';

/** True when `entry` is a signed admin entry (what TrustedStateMachine applies to the trust state). */
export function isAdminEntry(entry: LogEntry): boolean {
  if (entry.type !== 'command') return false;
  const bytes = Buffer.from(entry.command.buffer, entry.command.byteOffset, entry.command.byteLength);
  // The cheap scan first: a key-value command rarely holds the marker at all.
  if (!bytes.includes(ADMIN_MARKER)) return false;
  try {
    return decodeAdminEntry(entry.command) !== null;
  } catch (error) {
    // A malformed admin entry is refused at apply by every replica: the witness needs none of it.
    if (error instanceof SerializationError) return false;
    throw error;
  }
}

/** The agent's witness view: admin entries whole, everything else as the core's default view. */
export const AGENT_WITNESS_VIEW: WitnessView = {
  entry: (entry) => (isAdminEntry(entry) ? entry : STRIPPED_WITNESS_VIEW.entry(entry)),
};
