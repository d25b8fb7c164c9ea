/**
 * `coraft cluster init --nodes N --dir DIR [--base-port P]`: writes a ready loopback cluster,
 * playing the provisioner (SECURITY.md): DIR/provisioner/secrets/ holds the fleet secret and
 * the admin key (outside every node's folder), and each DIR/<id>/ holds agent.json, the keys
 * of that node's own links, its node secret and the admin public key, readable by the owner
 * only. Nodes outside the initial cluster also get their links file
 * (DIR/provisioner/secrets/links/<id>.json) for the signed `coraft members add`. Node i (from
 * 1) listens for peers on P + 2(i-1) and serves its local endpoint on P + 2(i-1) + 1.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { STORAGE_SETTINGS, isStorageSetting } from '../config/agent-config.js';
import { writeFileDurably, writeSecretFile } from '../config/secret-files.js';
import { ConfigError } from '../../contracts/errors.js';
import { isLoopbackHost } from '../config/trust-config.js';
import { configurationProblems, simpleConfiguration } from '../core/configuration.js';
import { intOption, parseOptions, UsageError } from './args.js';
import {
  linksDocument,
  linksFile,
  newAdminKeyPair,
  nodeKeyFiles,
  trustConfigOf,
  type FleetKeys,
} from '../fleet/fleet-keys.js';
import { secretsDir, writeFleetState, writeIfChanged, type FleetState, type Gateway } from '../fleet/provision.js';

const HELP =
  'usage: coraft cluster init --nodes N --dir DIR [--base-port P] [--transport T] [--storage S] ' +
  `[--witnesses W] [--initial-members M] [--force]

Writes DIR/<id>/ for a loopback cluster of N nodes (n1..nN) with fresh link keys, and
DIR/provisioner/secrets/ with the fleet secret and the admin key (admin.key: sign admin
commands with --admin-key DIR/provisioner/secrets/admin.key).
  --nodes N        1 to 9 nodes that hold the data (default 3)
  --witnesses W    0 to 9 witnesses more (default 0): n(N+1)..n(N+W) vote and count toward
                   commitment but store only each entry's term and index and never lead;
                   --nodes 2 --witnesses 1 is a two-gateway site (DESIGN.md, "Witness members")
  --dir DIR        where to write (required)
  --base-port P    first port (default 5700); node i uses P+2(i-1) for peers and the next one for its endpoint
  --transport T    coaps (default), coap, http or https
  --storage S      wal (default), lmdb-direct or memory (lmdb: the former name of wal)
  --initial-members M   the first M nodes form the cluster (default N+W); the others get folders and
                   links files (DIR/provisioner/secrets/links/<id>.json) to join with 'coraft members add'
  --force          overwrite an existing cluster folder (configs and keys of a new cluster id); a node's
                   data folder DIR/<id>/data of the old cluster is then refused at start: remove it
`;

/** The folder of the provisioner's secrets of a cluster made in `dir`. */
export function provisionerSecrets(dir: string): string {
  return join(resolve(dir), 'provisioner', 'secrets');
}

/** The admin private key of a cluster made in `dir` (for --admin-key). */
export function adminKeyFile(dir: string): string {
  return join(provisionerSecrets(dir), 'admin.key');
}

/** One node of a generated cluster. */
export interface InitNode {
  readonly id: string;
  readonly dir: string;
  readonly config: string;
  readonly endpoint: string;
  /** This node is a witness (absent: it is not). */
  readonly witness?: boolean;
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
  /**
   * The address each node listens on, by node id. Default 127.0.0.1 for every node. A node whose
   * address is not a loopback one gets endpoint keys (endpoint-kv.key, endpoint-admin.key).
   */
  readonly hostOf?: (id: string) => string;
  /**
   * How many nodes (the first ones) form the initial cluster; the others get keys and configs
   * but start outside it, to join with `members add`. Default: all of them. Limit: 1 to nodes.
   */
  readonly initialMembers?: number;
  /**
   * How many witnesses follow the `nodes` full members (ids n(nodes+1) on); they are marked
   * `"witness": true` in every members list. Default 0. Limit: 0 to 9.
   */
  readonly witnesses?: number;
}

/** Writes the cluster; returns its nodes. */
export function initCluster(options: InitOptions): InitNode[] {
  const root = resolve(options.dir);
  const witnessCount = options.witnesses ?? 0;
  if (!Number.isSafeInteger(witnessCount) || witnessCount < 0 || witnessCount > 9)
    throw new ConfigError([`witnesses: expected 0 to 9, got ${witnessCount}`]);
  const ids = Array.from({ length: options.nodes + witnessCount }, (_, i) => `n${i + 1}`);
  const isWitnessId = (id: string): boolean => ids.indexOf(id) >= options.nodes;
  // Witnesses fewer than a quorum, so that every quorum holds a full member (DESIGN.md).
  const witnessProblems = configurationProblems(simpleConfiguration(ids, [], ids.filter(isWitnessId)));
  if (witnessProblems.length > 0) throw new ConfigError(witnessProblems.map((p) => `--witnesses: ${p}`));
  if (!options.force && ids.some((id) => existsSync(join(root, id, 'agent.json')))) {
    throw new ConfigError([`--dir: ${root} already holds a cluster; use --force to overwrite it`]);
  }
  const host = options.hostOf ?? (() => '127.0.0.1');
  const initialMembers = options.initialMembers ?? ids.length;
  if (!Number.isSafeInteger(initialMembers) || initialMembers < 1 || initialMembers > ids.length) {
    throw new ConfigError([`initialMembers: expected 1 to ${ids.length}, got ${initialMembers}`]);
  }
  const addresses = ids.map((id, i) => ({ id, address: `${host(id)}:${options.basePort + 2 * i}` }));
  const members = addresses.slice(0, initialMembers).map((m) => (isWitnessId(m.id) ? { ...m, witness: true } : m));
  // The provisioner's record of each node says where its endpoint is and how it is reached, so that
  // `coraft provision --out DIR/provisioner` prints commands that reach it.
  const gateways = addresses.map((m, i) => ({
    ...m,
    overrides: {
      endpoint: `${host(m.id)}:${options.basePort + 2 * i + 1}`,
      endpointKeys: !isLoopbackHost(host(m.id)),
      listenHost: host(m.id),
      dataDir: './data',
    },
  }));
  const keys = writeProvisioner(root, gateways, initialMembers);
  return ids.map((id, i) => {
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    // An endpoint beyond loopback must have keys (the agent refuses to start otherwise).
    const endpointKeys = !isLoopbackHost(host(id));
    for (const [name, text, mode] of nodeKeyFiles(keys, id, ids, endpointKeys))
      writeFileDurably(join(dir, name), text, mode);
    const endpoint = `${host(id)}:${options.basePort + 2 * i + 1}`;
    const config = {
      nodeId: id,
      dataDir: './data',
      listen: { peer: addresses[i]?.address ?? '', endpoint },
      members,
      // A witness outside the initial members (a joiner) is told so here; listed ones are marked there.
      ...(isWitnessId(id) && i >= initialMembers ? { witness: true } : {}),
      transport: options.transport,
      codec: options.codec ?? 'cbor',
      storage: options.storage,
      ...trustConfigOf(keys, id, endpointKeys),
      logging: { level: 'info', format: 'json' },
      ...options.configOverrides?.(id),
    };
    const file = join(dir, 'agent.json');
    writeSecretFile(file, `${JSON.stringify(config, null, 2)}\n`);
    return { id, dir, config: file, endpoint, witness: isWitnessId(id) };
  });
}

/**
 * Writes the local provisioner: a fresh fleet secret and admin key pair in
 * DIR/provisioner/secrets, and the links files of the nodes outside the initial cluster.
 */
function writeProvisioner(root: string, addresses: readonly Gateway[], initialMembers: number): FleetKeys {
  const pair = newAdminKeyPair();
  const cluster = `local-${randomBytes(4).toString('hex')}`;
  const state: FleetState = {
    cluster,
    fleetSecret: randomBytes(32).toString('hex'),
    generations: {},
    adminPublicKey: pair.publicKeyPem,
    members: addresses.slice(0, initialMembers),
    added: addresses.slice(initialMembers),
    removed: [],
    defaults: {},
  };
  const provisioner = join(root, 'provisioner');
  writeFleetState(provisioner, state);
  const secrets = secretsDir(provisioner);
  writeIfChanged(join(secrets, 'admin.key'), pair.privateKeyPem);
  writeIfChanged(join(secrets, 'admin.pub'), pair.publicKeyPem, 0o644);
  const keys: FleetKeys = {
    cluster,
    fleetSecret: Uint8Array.from(Buffer.from(state.fleetSecret, 'hex')),
    generations: {},
    adminPublicKeyPem: pair.publicKeyPem,
  };
  const ids = addresses.map((a) => a.id);
  for (const joiner of ids.slice(initialMembers))
    writeIfChanged(linksFile(secrets, joiner), linksDocument(keys, joiner, ids));
  return keys;
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
    'initial-members': { type: 'string' },
    witnesses: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return Promise.resolve(0);
  }
  if (values.dir === undefined) throw new UsageError('--dir: required');
  const transport = values.transport ?? 'coaps';
  if (!['coaps', 'coap', 'http', 'https'].includes(transport))
    throw new UsageError(`--transport: expected coaps, coap, http or https, got ${JSON.stringify(transport)}`);
  const storage = values.storage ?? 'wal';
  if (!isStorageSetting(storage))
    throw new UsageError(`--storage: expected ${STORAGE_SETTINGS.join(', ')}, got ${JSON.stringify(storage)}`);
  const count = intOption(values.nodes, 'nodes', 3, 1, 9);
  const witnesses = intOption(values.witnesses, 'witnesses', 0, 0, 9);
  const options: InitOptions = {
    dir: values.dir,
    nodes: count,
    witnesses,
    initialMembers: intOption(values['initial-members'], 'initial-members', count + witnesses, 1, count + witnesses),
    basePort: intOption(values['base-port'], 'base-port', 5700, 1024, 65000),
    transport,
    storage,
    force: values.force === true,
  };
  let nodes: InitNode[];
  try {
    nodes = initCluster(options);
  } catch (error) {
    // What initCluster refuses here is what the command line asked for (a witness count, a folder without --force).
    if (error instanceof ConfigError) throw new UsageError(error.problems.join('; '));
    throw error;
  }
  const adminKey = resolve(values.dir, 'provisioner', 'secrets', 'admin.key');
  nodes.forEach((node, i) => {
    const role = node.witness === true ? ' witness' : '';
    // A node beyond --initial-members waits as a joiner: say so, and how it is admitted (README, "by hand").
    const add = `coraft members add ${node.id} 127.0.0.1:${options.basePort + 2 * i}${role === '' ? '' : ' --witness'}`;
    const joiner = i < (options.initialMembers ?? nodes.length) ? '' : `; not a member yet: start it, then ${add}`;
    process.stdout.write(
      `${node.id}:${role} ${node.config} (endpoint coap://${node.endpoint}${joiner}` +
        `${joiner === '' ? '' : ` --admin-key ${adminKey}`})\n`,
    );
  });
  return Promise.resolve(0);
}
