/**
 * The trust settings of agent.json (SECURITY.md): the cluster id, this node's link keys and
 * node secret, the genesis admin public key and the local endpoint's identities. Read and
 * checked once at start-up; every problem names the field and the file.
 */
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError, describeError } from '../../contracts/errors.js';
import type { NodeId } from '../../contracts/log.js';
import { publicKeyFromText } from '../trust/admin-command.js';
import { SECRET_BYTES } from '../trust/crypto.js';
import { readSecretText } from './secret-files.js';

/** One identity of the local endpoint and its PSK. */
export interface EndpointIdentity {
  readonly identity: string;
  readonly key: Uint8Array;
}

/** The trust settings, resolved. */
export interface TrustSettings {
  readonly cluster: string | null;
  readonly psk: {
    readonly identity: string;
    readonly keystore: ReadonlyMap<string, Uint8Array>;
    readonly keystoreFile: string;
    readonly nodeSecret: Uint8Array;
  } | null;
  readonly adminPublicKey: KeyObject | null;
  readonly endpointKeys: { readonly kv: EndpointIdentity | null; readonly admin: EndpointIdentity | null };
}

/** The trust fields of the file, as the schema guarantees them. */
export interface RawTrustFields {
  nodeId: string;
  members: { id: string; address: string }[];
  cluster?: string;
  psk?: { identity: string; keystoreFile: string; nodeSecretFile: string; keyFile?: string };
  admin?: { publicKeyFile: string };
  endpointKeys?: { kv?: { identity: string; keyFile: string }; admin?: { identity: string; keyFile: string } };
  endpointPsk?: unknown;
}

/**
 * Reads a file that holds key material, or whose integrity the trust rests on (the admin
 * public key), through secret-files.ts: owner and mode checked, ConfigError naming `field`.
 */
function readText(path: string, field: string): string {
  return readSecretText(path, field);
}

/** Reads a key file (a secret file, see secret-files.ts): hex, 16 to 64 bytes, whitespace ignored. */
export function readKeyFile(path: string, field: string): Uint8Array {
  return parseHexKey(readSecretText(path, field).trim(), `${field} (${path})`);
}

/** Parses a hex key of 16 to 64 bytes. */
export function parseHexKey(hex: string, field: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}){16,64}$/.test(hex))
    throw new ConfigError([`${field}: expected a key of 16 to 64 bytes as hex`]);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Reads a link keystore: a JSON object of peer id -> the link key as hex; never an entry for `self`. */
export function readKeystore(path: string, self: NodeId): Map<string, Uint8Array> {
  let value: unknown;
  try {
    value = JSON.parse(readText(path, 'psk.keystoreFile'));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError([`psk.keystoreFile: cannot read ${path} as JSON: ${describeError(error)}`]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError([`psk.keystoreFile: ${path} must hold a JSON object of peer id -> hex link key`]);
  const keys = new Map<string, Uint8Array>();
  for (const [id, hex] of Object.entries(value)) {
    if (id === self)
      throw new ConfigError([
        `psk.keystoreFile: ${path} holds a key for ${self} itself: a shared keystore from before link keys? ` +
          `Re-provision (see deploy/README.md)`,
      ]);
    if (typeof hex !== 'string')
      throw new ConfigError([`psk.keystoreFile: the key of ${JSON.stringify(id)} is not a hex string`]);
    keys.set(id, parseHexKey(hex, `psk.keystoreFile: key of ${JSON.stringify(id)}`));
  }
  return keys;
}

function readNodeSecret(path: string): Uint8Array {
  const hex = readText(path, 'psk.nodeSecretFile').trim();
  if (!new RegExp(`^[0-9a-fA-F]{${2 * SECRET_BYTES}}$`).test(hex))
    throw new ConfigError([`psk.nodeSecretFile: ${path} must hold ${SECRET_BYTES} bytes as hex`]);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function readAdminKey(path: string): KeyObject {
  const key = publicKeyFromText(readText(path, 'admin.publicKeyFile'));
  if (key === null) throw new ConfigError([`admin.publicKeyFile: ${path} must hold an Ed25519 public key (PEM)`]);
  return key;
}

/** True for addresses only this host can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/**
 * The fields of a configuration from before link keys, named with what replaced them. Read from any
 * parsed JSON, so that a file the schema refuses (such a file also lacks psk.nodeSecretFile and
 * cluster) still says why first, rather than only which new fields it lacks.
 */
export function removedFieldProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const fields = raw as { endpointPsk?: unknown; psk?: unknown };
  const problems: string[] = [];
  if (fields.endpointPsk !== undefined)
    problems.push(
      'endpointPsk: replaced by endpointKeys {kv, admin} (separate identities for key-value and admin access)',
    );
  if (
    typeof fields.psk === 'object' &&
    fields.psk !== null &&
    (fields.psk as { keyFile?: unknown }).keyFile !== undefined
  )
    problems.push(
      'psk.keyFile: removed; each pair of members has its own link key in psk.keystoreFile (re-provision: see ' +
        'deploy/README.md)',
    );
  return problems;
}

/** Problems found before any file is read. */
function shapeProblems(raw: RawTrustFields, endpointHost: string, needsPsk: boolean): string[] {
  const problems = removedFieldProblems(raw);
  if (raw.psk !== undefined && raw.psk.identity !== raw.nodeId)
    problems.push(`psk.identity: must equal nodeId ${JSON.stringify(raw.nodeId)} (the PSK identity is the node id)`);
  if (needsPsk && raw.psk === undefined)
    problems.push('psk: required for a transport that authenticates peers (coaps, https)');
  if ((raw.psk !== undefined || raw.admin !== undefined) && raw.cluster === undefined)
    problems.push('cluster: required with psk or admin (it binds link keys and admin commands to this cluster)');
  const kv = raw.endpointKeys?.kv;
  const admin = raw.endpointKeys?.admin;
  if (kv !== undefined && admin !== undefined && kv.identity === admin.identity)
    problems.push('endpointKeys: kv and admin must use different identities');
  if (!isLoopbackHost(endpointHost) && kv === undefined && admin === undefined) {
    problems.push(
      `listen.endpoint: ${endpointHost} is reachable beyond this host; such an endpoint needs endpointKeys (a kv ` +
        `and/or admin identity), or listen on 127.0.0.1`,
    );
  }
  return problems;
}

/** Resolves the trust settings; `at` resolves a path against the file's folder. */
export function resolveTrustSettings(
  raw: RawTrustFields,
  at: (path: string) => string,
  endpointHost: string,
  needsPsk: boolean,
): TrustSettings {
  const problems = shapeProblems(raw, endpointHost, needsPsk);
  if (problems.length > 0) throw new ConfigError(problems);
  const psk =
    raw.psk === undefined
      ? null
      : {
          identity: raw.psk.identity,
          keystore: readKeystore(at(raw.psk.keystoreFile), raw.nodeId),
          keystoreFile: at(raw.psk.keystoreFile),
          nodeSecret: readNodeSecret(at(raw.psk.nodeSecretFile)),
        };
  if (psk !== null && needsPsk) {
    const missing = raw.members.map((m) => m.id).filter((id) => id !== raw.nodeId && !psk.keystore.has(id));
    if (missing.length > 0)
      throw new ConfigError([`psk.keystoreFile: no link key for member(s) ${missing.join(', ')}`]);
  }
  const identity = (
    entry: { identity: string; keyFile: string } | undefined,
    field: string,
  ): EndpointIdentity | null =>
    entry === undefined ? null : { identity: entry.identity, key: readKeyFile(at(entry.keyFile), `${field}.keyFile`) };
  return {
    cluster: raw.cluster ?? null,
    psk,
    adminPublicKey: raw.admin === undefined ? null : readAdminKey(at(raw.admin.publicKeyFile)),
    endpointKeys: {
      kv: identity(raw.endpointKeys?.kv, 'endpointKeys.kv'),
      admin: identity(raw.endpointKeys?.admin, 'endpointKeys.admin'),
    },
  };
}
