/**
 * The provisioner's keys (SECURITY.md): from the fleet secret, which never leaves the
 * provisioning host, derive each gateway's link keys, node secret and endpoint keys; wrap a
 * gateway's new link keys for the members that will learn them through the log; and make the
 * admin key pair. `coraft provision` and `coraft cluster init` (the local provisioner) both
 * write what a node holds through `writeNodeKeys`, so a node folder never holds a key of a
 * link it is not an end of.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { WrappedLink } from '../trust/admin-command.js';
import {
  deriveEndpointKey,
  deriveLinkKey,
  deriveNodeSecret,
  linkGeneration,
  wrapLinkKey,
  type EndpointRole,
} from '../trust/crypto.js';

/** What the provisioner derives from. */
export interface FleetKeys {
  readonly cluster: string;
  readonly fleetSecret: Uint8Array;
  /** Each gateway's key generation; absent means 1. A rekey bumps it. */
  readonly generations: Readonly<Record<string, number>>;
  /** The cluster's genesis admin public key (PEM): what every bundle verifies admin commands with. */
  readonly adminPublicKeyPem: string;
}

/** A gateway's generation. */
export function generationOf(keys: FleetKeys, id: string): number {
  return keys.generations[id] ?? 1;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The link key of `a` and `b` as hex of its (printable) bytes. */
export function linkKeyHex(keys: FleetKeys, a: string, b: string): string {
  return hex(deriveLinkKey(keys.fleetSecret, keys.cluster, a, generationOf(keys, a), b, generationOf(keys, b)));
}

/** The keystore document of `id`: the key of each of its links (and nothing else). */
export function keystoreOf(keys: FleetKeys, id: string, peers: readonly string[]): Record<string, string> {
  return Object.fromEntries(peers.filter((p) => p !== id).map((p) => [p, linkKeyHex(keys, id, p)]));
}

/** The node secret of `id` as hex. */
export function nodeSecretHex(keys: FleetKeys, id: string): string {
  return hex(deriveNodeSecret(keys.fleetSecret, keys.cluster, id, generationOf(keys, id)));
}

/** The endpoint key of `id` for `role` as hex. */
export function endpointKeyHex(keys: FleetKeys, id: string, role: EndpointRole): string {
  return hex(deriveEndpointKey(keys.fleetSecret, keys.cluster, id, generationOf(keys, id), role));
}

/** The links of `id` wrapped for each holder (an existing member): what its add-member or rekey-member carries. */
export function wrappedLinksFor(keys: FleetKeys, id: string, holders: readonly string[]): WrappedLink[] {
  return holders
    .filter((h) => h !== id)
    .map((holder) => {
      const generation = linkGeneration(holder, generationOf(keys, holder), id, generationOf(keys, id));
      const secret = deriveNodeSecret(keys.fleetSecret, keys.cluster, holder, generationOf(keys, holder));
      const link = deriveLinkKey(
        keys.fleetSecret,
        keys.cluster,
        holder,
        generationOf(keys, holder),
        id,
        generationOf(keys, id),
      );
      return { holder, generation, wrapped: wrapLinkKey(secret, keys.cluster, holder, id, generation, link) };
    });
}

/** The links file of `id` (read by `coraft members add|rekey --links`): not secret, only ciphertexts. */
export function linksDocument(keys: FleetKeys, id: string, holders: readonly string[]): string {
  const links = wrappedLinksFor(keys, id, holders).map((l) => ({
    holder: l.holder,
    generation: l.generation,
    wrapped: Buffer.from(l.wrapped).toString('base64'),
  }));
  return `${JSON.stringify({ cluster: keys.cluster, id, links }, null, 2)}\n`;
}

/** A fresh admin key pair (Ed25519) as PEM. */
export function newAdminKeyPair(): { readonly privateKeyPem: string; readonly publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The file names a node folder holds. */
export const NODE_FILES = {
  keystore: 'keystore.json',
  nodeSecret: 'node.secret',
  adminPublicKey: 'admin.pub',
  endpointKv: 'endpoint-kv.key',
  endpointAdmin: 'endpoint-admin.key',
} as const;

/** The identities of a provisioned local endpoint. */
export const ENDPOINT_IDENTITIES = { kv: 'kv', admin: 'admin' } as const;

/**
 * The key files of node `id` in `dir` and their contents: its links with `peers`, its node
 * secret, the admin public key and, with `endpointKeys`, its endpoint keys. Returns
 * [relative name, text, mode] triples for the caller to write.
 */
export function nodeKeyFiles(
  keys: FleetKeys,
  id: string,
  peers: readonly string[],
  endpointKeys: boolean,
): [string, string, number][] {
  const files: [string, string, number][] = [
    [NODE_FILES.keystore, `${JSON.stringify(keystoreOf(keys, id, peers), null, 2)}\n`, 0o600],
    [NODE_FILES.nodeSecret, `${nodeSecretHex(keys, id)}\n`, 0o600],
    // Public, but the trust rests on its integrity: it is read like a secret (owner and mode checked).
    [NODE_FILES.adminPublicKey, keys.adminPublicKeyPem, 0o600],
  ];
  if (endpointKeys) {
    files.push(
      [NODE_FILES.endpointKv, `${endpointKeyHex(keys, id, 'kv')}\n`, 0o600],
      [NODE_FILES.endpointAdmin, `${endpointKeyHex(keys, id, 'admin')}\n`, 0o600],
    );
  }
  return files;
}

/** The agent.json fields that point at the node's key files. */
export function trustConfigOf(keys: FleetKeys, id: string, endpointKeys: boolean): Record<string, unknown> {
  return {
    cluster: keys.cluster,
    psk: { identity: id, keystoreFile: NODE_FILES.keystore, nodeSecretFile: NODE_FILES.nodeSecret },
    admin: { publicKeyFile: NODE_FILES.adminPublicKey },
    ...(endpointKeys
      ? {
          endpointKeys: {
            kv: { identity: ENDPOINT_IDENTITIES.kv, keyFile: NODE_FILES.endpointKv },
            admin: { identity: ENDPOINT_IDENTITIES.admin, keyFile: NODE_FILES.endpointAdmin },
          },
        }
      : {}),
  };
}

/** Where the provisioner keeps the links file of `id` under its secrets folder. */
export function linksFile(secretsDir: string, id: string): string {
  return join(secretsDir, 'links', `${id}.json`);
}
