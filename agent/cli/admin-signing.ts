/**
 * How the CLI signs admin commands (SECURITY.md): with the admin private key of `--admin-key
 * FILE` (or CORAFT_ADMIN_KEY_FILE), for the cluster of `--cluster ID` (default: the
 * provisioner's fleet.json next to the key file), valid for `--valid-for-s S` (default 300).
 * The links an added or rekeyed member's peers learn come from the provisioner's links file
 * (`--links FILE`, default links/<ID>.json next to the key file). Keys are never printed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { dirname, join } from 'node:path';
import { isValidNodeId } from '../core/configuration.js';
import {
  ADMIN_VALIDITY_MAX_MS,
  privateKeyFromText,
  publicKeyFromText,
  signAdminCommand,
  type AdminOperation,
  type WrappedLink,
} from '../trust/admin-command.js';
import { WRAPPED_LINK_BYTES } from '../trust/crypto.js';
import { intOption, UsageError } from './args.js';
import { readSecretText, writeSecretFile } from '../config/secret-files.js';
import { ConfigError, describeError } from '../../contracts/errors.js';

/** The options that sign. */
export interface SigningValues {
  'admin-key'?: string | undefined;
  cluster?: string | undefined;
  'valid-for-s'?: string | undefined;
  /** Write the signed command to this file instead of sending it (for `coraft admin submit` elsewhere). */
  'sign-only'?: string | undefined;
}

/** The command-line options of signing, for parseOptions. */
export const SIGNING_OPTIONS = {
  'admin-key': { type: 'string' },
  cluster: { type: 'string' },
  'valid-for-s': { type: 'string' },
  'sign-only': { type: 'string' },
} as const;

/** Signs admin operations for one cluster. */
export interface Signer {
  readonly cluster: string;
  readonly keyFile: string;
  sign(operation: AdminOperation): Uint8Array;
}

/** The text of `file`; a UsageError naming `what` (the option or argument) and the file when it cannot be read. */
export function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${what}: cannot read ${file}: ${describeError(error)}`);
  }
}

/** The cluster named by the provisioner's fleet.json next to `keyFile`, or null. */
function clusterNextTo(keyFile: string): string | null {
  const file = join(dirname(keyFile), 'fleet.json');
  if (!existsSync(file)) return null;
  const value: unknown = JSON.parse(readText(file, '--cluster'));
  const cluster: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'cluster') : null;
  return typeof cluster === 'string' ? cluster : null;
}

/** The error for the admin public key given as --admin-key, where the private key belongs. */
function publicKeyGiven(keyFile: string): UsageError {
  return new UsageError(
    `--admin-key: ${keyFile}: this is the admin PUBLIC key; sign with the private key ` +
      '(provisioner/secrets/admin.key)',
  );
}

/** Most bytes of a PEM key file looked at for a public key; an Ed25519 PEM has about 120. */
const PEM_KEY_BYTES_MAX = 4096;

/**
 * Whether `keyFile` holds a public key and no private key. Read only when it is a regular file of
 * a PEM key's size (a FIFO would block); false when it cannot be read.
 */
function holdsPublicKeyOnly(keyFile: string): boolean {
  try {
    const stat = statSync(keyFile);
    if (!stat.isFile() || stat.size > PEM_KEY_BYTES_MAX) return false;
    const text = readFileSync(keyFile, 'utf8');
    return privateKeyFromText(text) === null && publicKeyFromText(text) !== null;
  } catch (error) {
    // Unreadable: the secret file's own refusal says why.
    if (error instanceof Error) return false;
    throw error;
  }
}

/**
 * The admin private key in `keyFile`. A secret file: refused (ConfigError) when others may read
 * it (secret-files.ts), except that the admin public key (0644 as written) is named as such first,
 * rather than told to `chmod 600`, which would not make it sign.
 */
function readAdminKey(keyFile: string): KeyObject {
  let text: string;
  try {
    text = readSecretText(keyFile, '--admin-key');
  } catch (error) {
    if (error instanceof ConfigError && holdsPublicKeyOnly(keyFile)) throw publicKeyGiven(keyFile);
    throw error;
  }
  const key = privateKeyFromText(text);
  if (key !== null) return key;
  if (publicKeyFromText(text) !== null) throw publicKeyGiven(keyFile);
  throw new UsageError(`--admin-key: ${keyFile} is not an Ed25519 private key (PEM)`);
}

/** The signer of `values`; UsageError when there is no admin key. */
export function signerOf(values: SigningValues): Signer {
  const keyFile = values['admin-key'] ?? process.env.CORAFT_ADMIN_KEY_FILE;
  if (keyFile === undefined || keyFile === '')
    throw new UsageError(
      'admin commands are signed: --admin-key FILE (the admin private key, e.g. DIR/secrets/admin.key) is required',
    );
  const key = readAdminKey(keyFile);
  const cluster = values.cluster ?? clusterNextTo(keyFile);
  if (cluster === null) throw new UsageError(`--cluster ID is required (no fleet.json next to ${keyFile} names it)`);
  const validForMs = 1000 * intOption(values['valid-for-s'], 'valid-for-s', 300, 1, ADMIN_VALIDITY_MAX_MS / 1000);
  return { cluster, keyFile, sign: (operation) => signAdminCommand(operation, cluster, key, Date.now(), validForMs) };
}

/** Reads the links file of `id` (the provisioner's `links/<id>.json`), checking it is for this cluster and id. */
export function readLinks(file: string | undefined, signer: Signer, id: string): WrappedLink[] {
  const path = file ?? join(dirname(signer.keyFile), 'links', `${id}.json`);
  let value: unknown;
  try {
    value = JSON.parse(readText(path, '--links'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--links: ${path} is not JSON`);
  }
  const field = (name: string): unknown =>
    typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
  if (field('cluster') !== signer.cluster || field('id') !== id)
    throw new UsageError(`--links: ${path} is not the links file of ${id} in cluster ${signer.cluster}`);
  const links = field('links');
  if (!Array.isArray(links)) throw new UsageError(`--links: ${path} has no links array`);
  return links.map((item: unknown) => {
    const get = (name: string): unknown =>
      typeof item === 'object' && item !== null ? Reflect.get(item, name) : undefined;
    const holder = get('holder');
    const generation = get('generation');
    const wrapped = get('wrapped');
    const bytes = typeof wrapped === 'string' ? Uint8Array.from(Buffer.from(wrapped, 'base64')) : new Uint8Array(0);
    if (!isValidNodeId(holder) || typeof generation !== 'string' || bytes.byteLength !== WRAPPED_LINK_BYTES)
      throw new UsageError(`--links: ${path} holds a malformed link`);
    return { holder, generation, wrapped: bytes };
  });
}

/**
 * The node a command names without asking its endpoint: `--node ID`, or the nodeId (and cluster) of
 * `--config FILE`, the node's agent.json (its bundle's, on the provisioning host); null for neither.
 */
export function namedNode(
  node: string | undefined,
  config: string | undefined,
): { readonly node: string; readonly cluster: string | null } | null {
  if (node !== undefined && config !== undefined) throw new UsageError('give --node ID or --config FILE, not both');
  if (node !== undefined) {
    if (!isValidNodeId(node)) throw new UsageError(`--node: ${JSON.stringify(node)} is not a node id`);
    return { node, cluster: null };
  }
  if (config === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(readText(config, '--config'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--config: ${config} is not JSON (give the node's agent.json)`);
  }
  const field = (name: string): unknown =>
    typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
  const nodeId = field('nodeId');
  const cluster = field('cluster');
  if (!isValidNodeId(nodeId)) throw new UsageError(`--config: ${config} names no nodeId (give the node's agent.json)`);
  return { node: nodeId, cluster: typeof cluster === 'string' ? cluster : null };
}

/**
 * With --sign-only FILE: writes the signed command there (mode 0600) and returns true, so that
 * it can be carried to a gateway and sent with `coraft admin submit FILE` before it expires.
 */
export function maybeSignOnly(values: SigningValues, envelope: Uint8Array): boolean {
  const file = values['sign-only'];
  if (file === undefined) return false;
  writeSecretFile(file, envelope);
  process.stdout.write(
    `wrote the signed command to ${file}; send it with: coraft admin submit ${file} --endpoint HOST:PORT ` +
      `--endpoint-key FILE\n`,
  );
  return true;
}
