/**
 * The largest node state snapshot (trust-codec.ts: `['coraft-state', 1, kv, trust]`) a node whose
 * key-value limits are `kv` can take: the KV image's bound (kv/snapshot-limit.ts), the trust
 * image's, and the framing. The agent opens its storage engine with it as snapshotBytesMax and
 * refuses larger snapshots from a leader with it, so that every snapshot its own state can give
 * is accepted, and nothing larger is.
 *
 * The trust image's bound counts each list at its limit (trust-state.ts) and each field at its
 * longest: node ids of NODE_ID_LENGTH_MAX characters, link generations of two 7-digit numbers
 * (admin-command.ts), wrapped keys of WRAPPED_LINK_BYTES, nonces of NONCE_HEX_LENGTH characters,
 * and an admin key no longer than the signed command that carried it.
 */
import { NODE_ID_LENGTH_MAX } from '../../contracts/log.js';
import { CBOR_HEAD_BYTES_MAX as H, kvSnapshotBytesMax } from '../kv/snapshot-limit.js';
import type { KvOptions } from '../kv/options.js';
import { ADMIN_COMMAND_BYTES_MAX, NONCE_HEX_LENGTH } from './admin-command.js';
import { WRAPPED_LINK_BYTES } from './crypto.js';
import { KNOWN_MAX, LINKS_MAX, NONCES_MAX, REVOKED_MAX } from './trust-state.js';

/** Characters of a link generation label: two numbers of at most 7 digits and a dot. */
const GENERATION_CHARS_MAX = 15;
/** A node id as CBOR text, at its longest. */
const ID = H + NODE_ID_LENGTH_MAX;
/** The framing of either image: array heads, format, version and clock. */
const FRAMING_BYTES_MAX = 64;

/** An upper bound on the bytes of any trust image (trust-codec.ts encodeTrustImage). */
export const TRUST_IMAGE_BYTES_MAX =
  FRAMING_BYTES_MAX +
  (H + ADMIN_COMMAND_BYTES_MAX) +
  (H + KNOWN_MAX * ID) +
  (H + REVOKED_MAX * ID) +
  (H + REVOKED_MAX * (1 + ID + H)) +
  (H + LINKS_MAX * (1 + 2 * ID + H + GENERATION_CHARS_MAX + H + WRAPPED_LINK_BYTES)) +
  (H + NONCES_MAX * (1 + H + NONCE_HEX_LENGTH + H));

/** An upper bound on the bytes of a node state snapshot under the key-value limits `kv`. */
export function nodeStateBytesMax(kv: KvOptions): number {
  return FRAMING_BYTES_MAX + kvSnapshotBytesMax(kv) + TRUST_IMAGE_BYTES_MAX;
}
