/**
 * Signed administration commands (SECURITY.md, "Admin operations"). Membership changes,
 * rekeys, admin-key rotations, leadership transfers, snapshots and backups are authorized by a
 * signature of the fleet's admin key (Ed25519), never by who forwarded them.
 *
 * An envelope is JSON `{"v": 1, "body": TEXT, "sig": BASE64}`: `body` is the exact JSON text
 * that was signed (so no canonical form is needed), and the signature covers the domain tag
 * `coraft-admin-v1` NUL followed by that text. The body names the cluster, a random nonce, when
 * it was issued and when it expires, and the operation. Parsing is strict and bounded.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { isValidNodeId } from '../core/configuration.js';
import { SerializationError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import { GENERATION_MAX, WRAPPED_LINK_BYTES } from './crypto.js';

/** Largest envelope accepted, bytes (64 wrapped links fit with room to spare). */
export const ADMIN_COMMAND_BYTES_MAX = 32 * 1024;
/** Most wrapped links one command carries (the most members of a configuration). */
export const ADMIN_LINKS_MAX = 64;
/** Longest validity of a command (expiry minus issue time), ms: one hour. */
export const ADMIN_VALIDITY_MAX_MS = 60 * 60 * 1000;
/** How far in the future an issue time may lie (clock skew between signer and node), ms. */
export const ADMIN_CLOCK_SKEW_MAX_MS = 5 * 60 * 1000;
/** Characters of a nonce: 16 random bytes as hex. */
export const NONCE_HEX_LENGTH = 32;

/** A link key wrapped for `holder` (an existing member) by the provisioner. */
export interface WrappedLink {
  readonly holder: NodeId;
  /** The link's generation label (crypto.ts `linkGeneration`). */
  readonly generation: string;
  readonly wrapped: Uint8Array;
}

/** What an administration command does. */
export type AdminOperation =
  | {
      readonly op: 'add-member';
      readonly id: NodeId;
      readonly address: string;
      readonly learner: boolean;
      /** Add the node as a witness (it stores terms and indexes only); absent: false. */
      readonly witness?: boolean;
      readonly links: readonly WrappedLink[];
    }
  | { readonly op: 'remove-member'; readonly id: NodeId }
  | { readonly op: 'rekey-member'; readonly id: NodeId; readonly links: readonly WrappedLink[] }
  | { readonly op: 'set-admin-key'; readonly publicKey: string }
  | { readonly op: 'transfer-leadership'; readonly to: NodeId | null }
  | { readonly op: 'snapshot'; readonly node: NodeId }
  | { readonly op: 'backup'; readonly node: NodeId };

/** The operations that travel through the log and are verified again at apply by every node. */
export type LoggedAdminOperation = Extract<
  AdminOperation,
  { op: 'add-member' | 'remove-member' | 'rekey-member' | 'set-admin-key' }
>;

/** The signed fields of a command. */
export type AdminBody = AdminOperation & {
  readonly cluster: string;
  readonly nonce: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
};

/** A parsed envelope: the body, the exact text signed and the signature. */
export interface SignedAdminCommand {
  readonly body: AdminBody;
  readonly bodyText: string;
  readonly signature: Uint8Array;
}

/** True when the operation is one that travels through the log. */
export function isLoggedOperation(body: AdminOperation): body is LoggedAdminOperation {
  return (
    body.op === 'add-member' || body.op === 'remove-member' || body.op === 'rekey-member' || body.op === 'set-admin-key'
  );
}

const DOMAIN = new TextEncoder().encode('coraft-admin-v1\0');
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function signedBytes(bodyText: string): Buffer {
  return Buffer.concat([DOMAIN, encoder.encode(bodyText)]);
}

const malformed = (message: string): SerializationError =>
  new SerializationError('CODEC_MALFORMED', `admin command: ${message}`);

function parseObject(text: string, what: string): object {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SerializationError('CODEC_MALFORMED', `${what} is not JSON`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${what} is not a JSON object`);
  return value;
}

function exactFields(value: object, allowed: readonly string[], what: string): (name: string) => unknown {
  for (const name of Object.keys(value))
    if (!allowed.includes(name)) throw malformed(`${what}: unknown field ${JSON.stringify(name)}`);
  return (name): unknown => Reflect.get(value, name);
}

function nodeId(value: unknown, what: string): NodeId {
  if (!isValidNodeId(value)) throw malformed(`${what} must be a node id`);
  return value;
}

function timestamp(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw malformed(`${what} must be a non-negative integer of ms`);
  return value;
}

function parseLinks(value: unknown): WrappedLink[] {
  if (!Array.isArray(value) || value.length > ADMIN_LINKS_MAX)
    throw malformed(`links must be an array of at most ${ADMIN_LINKS_MAX}`);
  const holders = new Set<string>();
  const items: readonly unknown[] = value;
  return items.map((item): WrappedLink => {
    if (typeof item !== 'object' || item === null) throw malformed('a link must be an object');
    const field = exactFields(item, ['holder', 'generation', 'wrapped'], 'link');
    const holder = nodeId(field('holder'), 'link holder');
    if (holders.has(holder)) throw malformed(`two links for ${holder}`);
    holders.add(holder);
    const generation = field('generation');
    if (typeof generation !== 'string' || !/^\d{1,7}\.\d{1,7}$/.test(generation))
      throw malformed('link generation must be "N.M"');
    const wrappedText = field('wrapped');
    const wrapped =
      typeof wrappedText === 'string' ? Uint8Array.from(Buffer.from(wrappedText, 'base64')) : new Uint8Array(0);
    if (wrapped.byteLength !== WRAPPED_LINK_BYTES)
      throw malformed(`a wrapped link is ${WRAPPED_LINK_BYTES} bytes as base64`);
    return { holder, generation, wrapped };
  });
}

const COMMON = ['cluster', 'nonce', 'issuedAtMs', 'expiresAtMs', 'op'];

function parseOperation(field: (name: string) => unknown, value: object): AdminOperation {
  const only = (names: readonly string[], op: string): void => void exactFields(value, [...COMMON, ...names], op);
  switch (field('op')) {
    case 'add-member': {
      only(['id', 'address', 'learner', 'witness', 'links'], 'add-member');
      const address = field('address');
      const learner = field('learner');
      const witness = field('witness');
      if (witness !== undefined && typeof witness !== 'boolean')
        throw malformed('add-member: witness must be a boolean');
      if (typeof address !== 'string' || address.length === 0 || address.length > 255)
        throw malformed('add-member: address must be "host:port"');
      if (typeof learner !== 'boolean') throw malformed('add-member: learner must be a boolean');
      return {
        op: 'add-member',
        id: nodeId(field('id'), 'add-member: id'),
        address,
        learner,
        ...(witness === true ? { witness } : {}),
        links: parseLinks(field('links')),
      };
    }
    case 'remove-member':
      only(['id'], 'remove-member');
      return { op: 'remove-member', id: nodeId(field('id'), 'remove-member: id') };
    case 'rekey-member':
      only(['id', 'links'], 'rekey-member');
      return { op: 'rekey-member', id: nodeId(field('id'), 'rekey-member: id'), links: parseLinks(field('links')) };
    case 'set-admin-key': {
      only(['publicKey'], 'set-admin-key');
      const publicKey = field('publicKey');
      if (typeof publicKey !== 'string' || publicKeyFromText(publicKey) === null)
        throw malformed('set-admin-key: publicKey must be an Ed25519 public key (PEM)');
      return { op: 'set-admin-key', publicKey };
    }
    case 'transfer-leadership': {
      only(['to'], 'transfer-leadership');
      const to = field('to');
      return { op: 'transfer-leadership', to: to === null ? null : nodeId(to, 'transfer-leadership: to') };
    }
    case 'snapshot':
      only(['node'], 'snapshot');
      return { op: 'snapshot', node: nodeId(field('node'), 'snapshot: node') };
    case 'backup':
      only(['node'], 'backup');
      return { op: 'backup', node: nodeId(field('node'), 'backup: node') };
    default:
      throw malformed('unknown op');
  }
}

/** Parses the body text of an envelope; throws SerializationError naming what is wrong. */
export function parseAdminBody(bodyText: string): AdminBody {
  const value = parseObject(bodyText, 'admin command body');
  const field = (name: string): unknown => Reflect.get(value, name);
  const cluster = field('cluster');
  const nonce = field('nonce');
  if (typeof cluster !== 'string' || cluster.length === 0 || cluster.length > 128)
    throw malformed('cluster must be a string of 1 to 128 characters');
  if (typeof nonce !== 'string' || !new RegExp(`^[0-9a-f]{${NONCE_HEX_LENGTH}}$`).test(nonce))
    throw malformed(`nonce must be ${NONCE_HEX_LENGTH} lowercase hex characters`);
  const issuedAtMs = timestamp(field('issuedAtMs'), 'issuedAtMs');
  const expiresAtMs = timestamp(field('expiresAtMs'), 'expiresAtMs');
  return { ...parseOperation(field, value), cluster, nonce, issuedAtMs, expiresAtMs };
}

/** Parses an envelope; throws SerializationError (CODEC_MALFORMED or CODEC_LIMIT). */
export function decodeSignedAdmin(bytes: Uint8Array): SignedAdminCommand {
  if (bytes.byteLength > ADMIN_COMMAND_BYTES_MAX)
    throw new SerializationError('CODEC_LIMIT', `admin command larger than ${ADMIN_COMMAND_BYTES_MAX} bytes`);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (error) {
    throw new SerializationError('CODEC_MALFORMED', 'admin command is not UTF-8', { cause: error });
  }
  const value = parseObject(text, 'admin command');
  const field = exactFields(value, ['v', 'body', 'sig'], 'envelope');
  if (field('v') !== 1) throw malformed('unsupported envelope version (expected "v": 1)');
  const bodyText = field('body');
  const sig = field('sig');
  if (typeof bodyText !== 'string') throw malformed('body must be the signed JSON text');
  if (typeof sig !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(sig))
    throw malformed('sig must be an Ed25519 signature as base64 (unsigned commands are refused)');
  return { body: parseAdminBody(bodyText), bodyText, signature: Uint8Array.from(Buffer.from(sig, 'base64')) };
}

/** Reads an Ed25519 public key from PEM (SPKI); null when it is not one. */
export function publicKeyFromText(text: string): KeyObject | null {
  try {
    const key = createPublicKey({ key: text, format: 'pem' });
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch (error) {
    // Not a PEM public key at all: the caller reports it.
    if (error instanceof Error) return null;
    throw error;
  }
}

/** Reads an Ed25519 private key from PEM (PKCS#8); null when it is not one. */
export function privateKeyFromText(text: string): KeyObject | null {
  try {
    const key = createPrivateKey({ key: text, format: 'pem' });
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch (error) {
    // Not a PEM private key at all: the caller reports it.
    if (error instanceof Error) return null;
    throw error;
  }
}

/** The PEM text of a public key. */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** True when `signature` is the admin key's signature of the command. */
export function signatureValid(command: SignedAdminCommand, publicKey: KeyObject): boolean {
  if (command.signature.byteLength !== 64) return false;
  return verify(null, signedBytes(command.bodyText), publicKey, command.signature);
}

/** A fresh nonce. */
export function newNonce(): string {
  return randomBytes(NONCE_HEX_LENGTH / 2).toString('hex');
}

/** Signs `operation` for `cluster`, valid from `nowMs` for `validForMs`; returns the envelope bytes. */
export function signAdminCommand(
  operation: AdminOperation,
  cluster: string,
  privateKey: KeyObject,
  nowMs: number,
  validForMs: number,
): Uint8Array {
  if (!Number.isSafeInteger(validForMs) || validForMs < 1 || validForMs > ADMIN_VALIDITY_MAX_MS)
    throw new RangeError(`validity must be 1 to ${ADMIN_VALIDITY_MAX_MS} ms`);
  const links =
    'links' in operation
      ? {
          links: operation.links.map((l) => ({
            holder: l.holder,
            generation: l.generation,
            wrapped: Buffer.from(l.wrapped).toString('base64'),
          })),
        }
      : {};
  const body = {
    ...operation,
    ...links,
    cluster,
    nonce: newNonce(),
    issuedAtMs: Math.floor(nowMs),
    expiresAtMs: Math.floor(nowMs) + validForMs,
  };
  const bodyText = JSON.stringify(body);
  const sig = sign(null, signedBytes(bodyText), privateKey).toString('base64');
  return encoder.encode(JSON.stringify({ v: 1, body: bodyText, sig }));
}

/** Why a command is refused, or null when its signature, cluster and times are acceptable at `nowMs`. */
export function admissionProblem(
  command: SignedAdminCommand,
  cluster: string,
  publicKey: KeyObject | null,
  nowMs: number,
): string | null {
  const body = command.body;
  if (publicKey === null)
    return 'this node has no admin public key (admin.publicKeyFile); admin operations are disabled';
  if (!signatureValid(command, publicKey))
    return (
      "the signature is not the admin key's in force here (a key rotated away, another fleet's key, or an " +
      'altered command): sign with the current admin.key'
    );
  if (body.cluster !== cluster) return `signed for cluster ${JSON.stringify(body.cluster)}, not this one`;
  if (body.expiresAtMs <= body.issuedAtMs || body.expiresAtMs - body.issuedAtMs > ADMIN_VALIDITY_MAX_MS)
    return `its validity must be positive and at most ${ADMIN_VALIDITY_MAX_MS} ms`;
  if (body.expiresAtMs <= nowMs) return 'it has expired';
  if (body.issuedAtMs > nowMs + ADMIN_CLOCK_SKEW_MAX_MS)
    return "it was issued in the future (check the signer's clock)";
  return null;
}

/** Checks that a link generation label names generations within range. */
export function generationInRange(label: string): boolean {
  return label.split('.').every((part) => Number(part) >= 1 && Number(part) <= GENERATION_MAX);
}
