/**
 * Helpers of the trust tests: OpenSSL handshakes against a real agent's peer port, every
 * key-looking string of a folder as candidate PSKs, a bounded pool of tasks, the signer of a
 * `cluster init` folder, and a rogue peer transport presenting an identity and keys of one's
 * choosing.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminKeyFile, provisionerSecrets } from '../../../agent/cli/cluster-init.js';
import type { ClusterMember } from '../../../contracts/log.js';
import { privateKeyFromText, signAdminCommand, type AdminOperation } from '../../../agent/trust/admin-command.js';
import { createSerializer } from '../../../codec/index.js';
import { DtlsClientEndpoint, DtlsServerEndpoint } from '../../../transport/dtls/index.js';
import { createPeerTransport, type PeerTransport } from '../../../transport/index.js';

/**
 * Runs one `openssl s_client -dtls1_2` PSK handshake; true when it completed: s_client exits 0
 * with no alert or error (it prints "Cipher is ..." even when the server then refuses its
 * Finished).
 */
export function handshake(port: number, identity: string, pskHex: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      'openssl',
      [
        's_client',
        '-dtls1_2',
        '-psk',
        pskHex,
        '-psk_identity',
        identity,
        '-cipher',
        'PSK-AES128-CCM8',
        '-connect',
        `127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve(code === 0 && /Cipher is PSK-AES128-CCM8/.test(output) && !/alert|:error:/.test(output));
    });
  });
}

/** Every file under `dir` (its data folder aside). */
function filesOf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'data') return [];
    return statSync(path).isDirectory() ? filesOf(path) : [path];
  });
}

/**
 * Every key-looking string in `dir`'s files, as the hex of candidate PSK bytes (hex read as bytes, and as text; base64
 * decoded).
 */
export function candidateKeys(dir: string): string[] {
  const candidates = new Set<string>();
  for (const file of filesOf(dir)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/[0-9a-fA-F]{32,}/g)) {
      const hex = match[0];
      if (hex.length % 2 === 0) candidates.add(hex.toLowerCase());
      candidates.add(Buffer.from(hex, 'latin1').toString('hex'));
    }
    for (const match of text.matchAll(/[A-Za-z0-9+/]{24,}={0,2}/g))
      candidates.add(Buffer.from(match[0], 'base64').toString('hex'));
  }
  return [...candidates].filter((hex) => hex.length >= 2 && hex.length <= 1024);
}

/** Runs `tasks` with at most `width` at once; results in order. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const index = next;
        next += 1;
        const task = tasks[index];
        if (task !== undefined) results[index] = await task();
      }
    }),
  );
  return results;
}

/** Signs operations with the admin key of the cluster made by `cluster init` in `dir`. */
export function clusterSigner(dir: string): {
  readonly cluster: string;
  sign(operation: AdminOperation, options?: { cluster?: string; atMs?: number; validMs?: number }): Uint8Array;
} {
  const key = privateKeyFromText(readFileSync(adminKeyFile(dir), 'utf8'));
  if (key === null) throw new Error('no admin key');
  const cluster = (JSON.parse(readFileSync(join(provisionerSecrets(dir), 'fleet.json'), 'utf8')) as { cluster: string })
    .cluster;
  return {
    cluster,
    sign: (operation, options = {}) =>
      signAdminCommand(
        operation,
        options.cluster ?? cluster,
        key,
        options.atMs ?? Date.now(),
        options.validMs ?? 60_000,
      ),
  };
}

/** The link keys in a node folder's keystore.json, as bytes. */
export function linkKeysOf(folder: string): Map<string, Uint8Array> {
  const document = JSON.parse(readFileSync(join(folder, 'keystore.json'), 'utf8')) as Record<string, string>;
  return new Map(Object.entries(document).map(([peer, hex]) => [peer, Uint8Array.from(Buffer.from(hex, 'hex'))]));
}

/** A peer transport presenting `identity`, with the key `keyAt(address, port)` toward each server, aimed at `peers`. */
export function roguePeer(
  identity: string,
  keyAt: (port: number) => Uint8Array | null,
  peers: readonly ClusterMember[],
): PeerTransport {
  const transport = createPeerTransport(
    {
      name: 'coaps',
      openServerEndpoint: () => DtlsServerEndpoint.listen({ host: '127.0.0.1', port: 0, pskLookup: () => null }),
      openClientEndpoint: () =>
        DtlsClientEndpoint.open({ identity, pskForPeer: (_address, port) => keyAt(port), bindAddress: '127.0.0.1' }),
    },
    { serializer: createSerializer('cbor') },
  );
  transport.client.setPeers(peers);
  return transport;
}
