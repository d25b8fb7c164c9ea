/**
 * `coraft cluster init --nodes N --dir DIR [--base-port P]`: writes a ready loopback cluster:
 * DIR/<id>/agent.json for each node, its own key, and the keystore of every member's key, all
 * fresh and readable by the owner only. Node i (from 1) listens for peers on P + 2(i-1) and
 * serves its local endpoint on P + 2(i-1) + 1.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { STORAGE_SETTINGS, isStorageSetting } from '../config/agent-config.js';
import { writeSecretFile } from '../config/secret-files.js';
import { ConfigError } from '../errors.js';
import { intOption, parseOptions } from './args.js';

const HELP = `usage: coraft cluster init --nodes N --dir DIR [--base-port P] [--transport T] [--storage S] [--force]

Writes DIR/<id>/agent.json for a loopback cluster of N nodes (n1..nN) with fresh PSKs.
  --nodes N        1 to 9 nodes (default 3)
  --dir DIR        where to write (required)
  --base-port P    first port (default 5700); node i uses P+2(i-1) for peers and the next one for its endpoint
  --transport T    coaps (default), coap, http or https
  --storage S      wal (default), lmdb-direct or memory (lmdb: the former name of wal)
  --force          overwrite an existing cluster folder
`;

/** One node of a generated cluster. */
export interface InitNode {
  readonly id: string;
  readonly dir: string;
  readonly config: string;
  readonly endpoint: string;
}

/** What `initCluster` writes. */
export interface InitOptions {
  readonly dir: string;
  readonly nodes: number;
  readonly basePort: number;
  readonly transport: string;
  readonly storage: string;
  /** Default cbor. */
  readonly codec?: string;
  readonly force: boolean;
  /** Extra top-level fields of each node's agent.json (e.g. `raft`, `logging`), by node id. */
  readonly configOverrides?: (id: string) => Readonly<Record<string, unknown>>;
  /** The address each node listens on, by node id. Default 127.0.0.1 for every node. */
  readonly hostOf?: (id: string) => string;
  /**
   * How many nodes (the first ones) form the initial cluster; the others get keys and configs
   * but start outside it, to join with `members add`. Default: all of them. Limit: 1 to nodes.
   */
  readonly initialMembers?: number;
}

/** Writes the cluster; returns its nodes. */
export function initCluster(options: InitOptions): InitNode[] {
  const root = resolve(options.dir);
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  if (!options.force && ids.some((id) => existsSync(join(root, id, 'agent.json')))) {
    throw new ConfigError([`--dir: ${root} already holds a cluster; use --force to overwrite it`]);
  }
  const keys = new Map(ids.map((id) => [id, randomBytes(16).toString('hex')]));
  const keystore = Object.fromEntries(keys);
  const host = options.hostOf ?? (() => '127.0.0.1');
  const initialMembers = options.initialMembers ?? options.nodes;
  if (!Number.isSafeInteger(initialMembers) || initialMembers < 1 || initialMembers > options.nodes) {
    throw new ConfigError([`initialMembers: expected 1 to ${options.nodes}, got ${initialMembers}`]);
  }
  const addresses = ids.map((id, i) => ({ id, address: `${host(id)}:${options.basePort + 2 * i}` }));
  const members = addresses.slice(0, initialMembers);
  return ids.map((id, i) => {
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeSecretFile(join(dir, `${id}.key`), `${keys.get(id) ?? ''}\n`);
    writeSecretFile(join(dir, 'keystore.json'), `${JSON.stringify(keystore, null, 2)}\n`);
    const endpoint = `${host(id)}:${options.basePort + 2 * i + 1}`;
    const config = {
      nodeId: id,
      dataDir: './data',
      listen: { peer: addresses[i]?.address ?? '', endpoint },
      members,
      transport: options.transport,
      codec: options.codec ?? 'cbor',
      storage: options.storage,
      psk: { identity: id, keyFile: `${id}.key`, keystoreFile: 'keystore.json' },
      logging: { level: 'info', format: 'json' },
      ...options.configOverrides?.(id),
    };
    const file = join(dir, 'agent.json');
    writeSecretFile(file, `${JSON.stringify(config, null, 2)}\n`);
    return { id, dir, config: file, endpoint };
  });
}

export function runClusterCommand(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'init') {
    process.stdout.write(HELP);
    return Promise.resolve(sub === undefined || sub === '--help' ? 0 : 2);
  }
  const { values } = parseOptions(rest, {
    nodes: { type: 'string' },
    dir: { type: 'string' },
    'base-port': { type: 'string' },
    transport: { type: 'string' },
    storage: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return Promise.resolve(0);
  }
  if (values.dir === undefined) throw new ConfigError(['--dir: required']);
  const transport = values.transport ?? 'coaps';
  if (!['coaps', 'coap', 'http', 'https'].includes(transport)) throw new ConfigError([`--transport: expected coaps, coap, http or https, got ${JSON.stringify(transport)}`]);
  const storage = values.storage ?? 'wal';
  if (!isStorageSetting(storage)) throw new ConfigError([`--storage: expected ${STORAGE_SETTINGS.join(', ')}, got ${JSON.stringify(storage)}`]);
  const nodes = initCluster({
    dir: values.dir,
    nodes: intOption(values.nodes, 'nodes', 3, 1, 9),
    basePort: intOption(values['base-port'], 'base-port', 5700, 1024, 65000),
    transport,
    storage,
    force: values.force === true,
  });
  for (const node of nodes) process.stdout.write(`${node.id}: ${node.config} (endpoint coap://${node.endpoint})\n`);
  return Promise.resolve(0);
}
