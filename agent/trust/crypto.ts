/**
 * The key material of the trust model (SECURITY.md), on node:crypto only:
 *
 * - Link keys: one PSK per pair of members, derived on the provisioning host with HKDF-SHA256
 *   from the fleet secret over the cluster id, the sorted pair of ids and each end's key
 *   generation. Re-provisioning is idempotent (same inputs, same key) and rekeying a member
 *   bumps its generation, which changes every link it is an end of and no other.
 * - Node secrets: one per member (and generation), used only to wrap the link keys that reach
 *   a member through the log when another member is added or rekeyed.
 * - Endpoint keys: one per gateway and role (key-value access, admin access) of its local
 *   endpoint.
 * - Wrapping: AES-256-GCM under the holder's node secret, with the cluster id, the holder, the
 *   peer and the generation as associated data, so a wrapped key opens only for its holder and
 *   only as the key of that link.
 *
 * PSKs are printable: the PSK bytes are the 64 lowercase hex characters of 32 derived bytes
 * (256 bits of entropy), so that tools whose key option takes text (libcoap's `-k`) can use
 * them. Key files hold every PSK as the hex of its bytes, like any other key.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { isValidNodeId } from '../core/configuration.js';
import type { NodeId } from '../../contracts/log.js';

/** Bytes of a fleet secret and of a node secret. */
export const SECRET_BYTES = 32;

/** Bytes of a printable PSK (64 hex characters). */
export const PRINTABLE_PSK_BYTES = 64;

/** Highest key generation; generations start at 1. */
export const GENERATION_MAX = 1_000_000;

/** The roles of a local endpoint's keys. */
export type EndpointRole = 'kv' | 'admin';

/** What a derivation is for; part of the HKDF info, so no two derivations share output. */
type Purpose = 'link' | 'node' | 'endpoint-kv' | 'endpoint-admin';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes of a wrapped link key: IV, the PSK, the GCM tag. */
export const WRAPPED_LINK_BYTES = IV_BYTES + PRINTABLE_PSK_BYTES + TAG_BYTES;

const encoder = new TextEncoder();

/** Length-prefixed concatenation, so that no two different field lists encode alike. */
function fields(parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = Buffer.from(encoder.encode(part));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

function checkGeneration(generation: number, what: string): void {
  if (!Number.isSafeInteger(generation) || generation < 1 || generation > GENERATION_MAX)
    throw new RangeError(`${what}: generation must be an integer from 1 to ${GENERATION_MAX}`);
}

function checkId(id: string, what: string): void {
  if (!isValidNodeId(id)) throw new RangeError(`${what}: ${JSON.stringify(id)} is not a node id`);
}

function derive(fleetSecret: Uint8Array, cluster: string, purpose: Purpose, parts: readonly string[]): Buffer {
  if (fleetSecret.byteLength !== SECRET_BYTES) throw new RangeError(`the fleet secret must be ${SECRET_BYTES} bytes`);
  const salt = fields(['coraft/v1', cluster]);
  return Buffer.from(hkdfSync('sha256', fleetSecret, salt, fields([purpose, ...parts]), SECRET_BYTES));
}

/** The printable PSK form of 32 derived bytes. */
function printable(bytes: Buffer): Uint8Array {
  return encoder.encode(bytes.toString('hex'));
}

/** The two ends of a link in canonical order, with their generations. */
export function linkEnds(
  a: NodeId,
  generationA: number,
  b: NodeId,
  generationB: number,
): readonly [string, number, string, number] {
  return a < b ? [a, generationA, b, generationB] : [b, generationB, a, generationA];
}

/** The generation label of a link: "<generation of the lower id>.<generation of the higher id>". */
export function linkGeneration(a: NodeId, generationA: number, b: NodeId, generationB: number): string {
  const [, gLow, , gHigh] = linkEnds(a, generationA, b, generationB);
  return `${gLow}.${gHigh}`;
}

/** The PSK shared by `a` and `b`; symmetric in its two ends. */
export function deriveLinkKey(
  fleetSecret: Uint8Array,
  cluster: string,
  a: NodeId,
  generationA: number,
  b: NodeId,
  generationB: number,
): Uint8Array {
  checkId(a, 'link');
  checkId(b, 'link');
  if (a === b) throw new RangeError('a link joins two different members');
  checkGeneration(generationA, a);
  checkGeneration(generationB, b);
  const [low, gLow, high, gHigh] = linkEnds(a, generationA, b, generationB);
  return printable(derive(fleetSecret, cluster, 'link', [low, high, String(gLow), String(gHigh)]));
}

/** The node secret of `id` at `generation`: the key its new link keys are wrapped under. */
export function deriveNodeSecret(fleetSecret: Uint8Array, cluster: string, id: NodeId, generation: number): Uint8Array {
  checkId(id, 'node secret');
  checkGeneration(generation, id);
  return Uint8Array.from(derive(fleetSecret, cluster, 'node', [id, String(generation)]));
}

/** The PSK of `id`'s local endpoint for `role`. */
export function deriveEndpointKey(
  fleetSecret: Uint8Array,
  cluster: string,
  id: NodeId,
  generation: number,
  role: EndpointRole,
): Uint8Array {
  checkId(id, 'endpoint key');
  checkGeneration(generation, id);
  return printable(
    derive(fleetSecret, cluster, role === 'kv' ? 'endpoint-kv' : 'endpoint-admin', [id, String(generation)]),
  );
}

/** A fresh fleet secret. */
export function newFleetSecret(): Uint8Array {
  return Uint8Array.from(randomBytes(SECRET_BYTES));
}

/** Associated data of a wrapped link key: it opens only as `holder`'s key for the link with `peer`. */
function wrapAad(cluster: string, holder: NodeId, peer: NodeId, generation: string): Buffer {
  return fields(['coraft/v1 wrapped link', cluster, holder, peer, generation]);
}

/**
 * Wraps the key of the link `holder`–`peer` under `holder`'s node secret. The IV is synthetic
 * (an HMAC of the associated data and the key under the node secret, as in SIV): wrapping the
 * same key again gives the same bytes, so re-provisioning is idempotent, and two different
 * plaintexts never share an IV under one node secret.
 */
export function wrapLinkKey(
  nodeSecret: Uint8Array,
  cluster: string,
  holder: NodeId,
  peer: NodeId,
  generation: string,
  linkKey: Uint8Array,
): Uint8Array {
  if (nodeSecret.byteLength !== SECRET_BYTES) throw new RangeError(`a node secret is ${SECRET_BYTES} bytes`);
  if (linkKey.byteLength !== PRINTABLE_PSK_BYTES) throw new RangeError(`a link key is ${PRINTABLE_PSK_BYTES} bytes`);
  const aad = wrapAad(cluster, holder, peer, generation);
  const iv = createHmac('sha256', nodeSecret)
    .update(fields(['coraft/v1 wrap iv']))
    .update(aad)
    .update(linkKey)
    .digest()
    .subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', nodeSecret, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(linkKey), cipher.final()]);
  return Uint8Array.from(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

/**
 * Opens a wrapped link key; null when it was not wrapped for this holder, link, generation and
 * cluster under this node secret (or was altered).
 */
export function unwrapLinkKey(
  nodeSecret: Uint8Array,
  cluster: string,
  holder: NodeId,
  peer: NodeId,
  generation: string,
  wrapped: Uint8Array,
): Uint8Array | null {
  if (nodeSecret.byteLength !== SECRET_BYTES || wrapped.byteLength !== WRAPPED_LINK_BYTES) return null;
  const iv = wrapped.subarray(0, IV_BYTES);
  const body = wrapped.subarray(IV_BYTES, wrapped.byteLength - TAG_BYTES);
  const tag = wrapped.subarray(wrapped.byteLength - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', nodeSecret, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(wrapAad(cluster, holder, peer, generation));
  decipher.setAuthTag(tag);
  try {
    return Uint8Array.from(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch (error) {
    // GCM refused the tag: the expected outcome for a key wrapped for someone else; nothing leaks.
    if (error instanceof Error) return null;
    throw error;
  }
}
