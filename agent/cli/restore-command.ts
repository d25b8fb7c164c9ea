/**
 * `coraft restore`: a new cluster seeded with a backup (agent/backup/restore.ts).
 *
 * - `--from FILE --nodes N --dir DIR [--base-port P]` writes a loopback cluster as `cluster init`
 *   does (a new cluster id, fresh link keys, node secrets and admin key) and seeds every node's
 *   data folder with the backup's state.
 * - `--from FILE --config agent.json` seeds one provisioned gateway's empty data folder (run it
 *   as the agent's user before the first start; `coraft provision --restore` prints it).
 *
 * The file is read and checked whole first (trailer, SHA-256, both images decoded by the state
 * machine): a truncated, altered or foreign file is refused before anything is written.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simpleConfiguration } from '../core/configuration.js';
import { ConfigError, PersistenceError, describeError } from '../../contracts/errors.js';
import { loadAgentConfig, STORAGE_SETTINGS, isStorageSetting, type AgentConfig } from '../config/agent-config.js';
import { readBackupFile, type BackupContents } from '../backup/backup-reader.js';
import { restoredSnapshot, seedDataDir } from '../backup/restore.js';
import { intOption, parseOptions, UsageError } from './args.js';
import { initCluster } from './cluster-init.js';

const HELP = `usage: coraft restore --from FILE --nodes N --dir DIR [--base-port P] [--transport T] [--storage S]
       coraft restore --from FILE --config agent.json

Creates a new cluster seeded with the backup FILE (coraft backup): a new cluster id and fresh
keys (never the backed-up cluster's), every key, value and revision of the backup, its watch
history window and client sessions. The backup's keystore is checked but not carried over: it
belongs to the old cluster (deploy/README.md, "Backup and restore"). FILE is verified first; a
truncated or altered file is refused and nothing is written.
  --nodes N, --dir DIR, --base-port P, --transport T, --storage S   as 'coraft cluster init'
  --config FILE    seed the empty data folder of this one (provisioned) node instead`;

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** The configuration a node with `config` starts from (agent.ts bootstrapOf). */
function membersOf(config: AgentConfig): ReturnType<typeof simpleConfiguration> {
  return simpleConfiguration(
    config.members.map((m) => m.id),
    config.members,
  );
}

/** Seeds the data folder of the node of `config`. */
async function seedNode(backup: BackupContents, config: AgentConfig): Promise<void> {
  const snapshot = restoredSnapshot(backup, {
    cluster: config.cluster ?? '',
    adminPublicKey: config.adminPublicKey,
    configuration: membersOf(config),
    kvOptions: config.kv,
  });
  await seedDataDir(config, snapshot);
}

function summary(backup: BackupContents): string {
  const h = backup.header;
  return `index ${h.index}, revision ${h.revision}, ${h.keyCount} keys of cluster ${h.cluster}`;
}

/** The options of a local cluster restore. */
interface ClusterValues {
  readonly dir?: string | undefined;
  readonly nodes?: string | undefined;
  readonly 'base-port'?: string | undefined;
  readonly transport?: string | undefined;
  readonly storage?: string | undefined;
}

async function restoreCluster(backup: BackupContents, values: ClusterValues): Promise<void> {
  if (values.dir === undefined) throw new UsageError('restore: --dir DIR is required with --nodes');
  const nodes = intOption(values.nodes, 'nodes', 3, 1, 9);
  const storage = values.storage ?? 'wal';
  if (!isStorageSetting(storage) || storage === 'memory')
    throw new UsageError(`--storage: expected ${STORAGE_SETTINGS.filter((s) => s !== 'memory').join(', ')}`);
  const transport = values.transport ?? 'coaps';
  if (!['coaps', 'coap', 'http', 'https'].includes(transport))
    throw new UsageError(`--transport: expected coaps, coap, http or https, got ${JSON.stringify(transport)}`);
  // The state decodes (checked against a stand-in cluster) before a single file is written.
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  restoredSnapshot(backup, {
    cluster: `check-${backup.header.cluster}`,
    adminPublicKey: null,
    configuration: simpleConfiguration(ids),
  });
  // A restore makes a new cluster in a new folder; it has no --force (cluster init's advice).
  if (ids.some((id) => existsSync(join(resolve(values.dir ?? ''), id, 'agent.json'))))
    throw new ConfigError([
      `--dir: ${values.dir} already holds a cluster; a restore writes a new one: give a new --dir, or remove this one`,
    ]);
  const written = initCluster({
    dir: values.dir,
    nodes,
    basePort: intOption(values['base-port'], 'base-port', 5700, 1024, 65000),
    transport,
    storage,
    force: false,
  });
  for (const node of written) {
    await seedNode(backup, loadAgentConfig(node.config));
    out(`${node.id}: ${node.config} (endpoint coap://${node.endpoint})`);
  }
  out(`restored ${summary(backup)} into a new cluster of ${nodes} nodes in ${values.dir}`);
}

/** `coraft restore`. */
export async function runRestore(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    from: { type: 'string' },
    nodes: { type: 'string' },
    dir: { type: 'string' },
    'base-port': { type: 'string' },
    transport: { type: 'string' },
    storage: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    out(HELP);
    return 0;
  }
  if (values.from === undefined) throw new UsageError('restore: --from FILE is required');
  let backup: BackupContents;
  try {
    backup = readBackupFile(values.from);
  } catch (error) {
    if (!(error instanceof PersistenceError) && !(error instanceof Error && 'code' in error)) throw error;
    process.stderr.write(`coraft restore: refused ${values.from}: ${describeError(error)}; nothing was written\n`);
    return 1;
  }
  try {
    if (values.config !== undefined) {
      const config = loadAgentConfig(values.config);
      await seedNode(backup, config);
      out(`${config.nodeId}: restored ${summary(backup)} into ${config.dataDir}`);
    } else await restoreCluster(backup, values);
    return 0;
  } catch (error) {
    if (!(error instanceof PersistenceError)) throw error;
    process.stderr.write(`coraft restore: ${describeError(error)}\n`);
    return 1;
  }
}
