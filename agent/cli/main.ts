/**
 * The `coraft` command line: one entry point, every command a subcommand.
 */
import { ConfigError } from '../../contracts/errors.js';
import { CLI_EXIT, UsageError } from './args.js';
import type { CodeCacheHooks } from './code-cache.js';

/** A subcommand: its one-line summary and its implementation, loaded on demand. */
interface Command {
  readonly summary: string;
  readonly run: (args: readonly string[], hooks?: CodeCacheHooks) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  agent: {
    summary: 'agent --config FILE: run one node in the foreground (what the service runs)',
    run: async (args, hooks) => (await import('./agent-command.js')).runAgentCommand(args, hooks),
  },
  demo: {
    summary: 'three real agents on loopback with a live status table (what npm start runs)',
    run: async (args) => (await import('./demo-cluster.js')).runDemoClusterCommand(args),
  },
  provision: {
    summary:
      'provision --inventory FILE --out DIR [--restore BACKUP | --add ID ADDRESS | --remove ID | --rekey ID | ' +
      '--rotate-admin-key]: write gateway bundles',
    run: async (args) => (await import('./provision.js')).runProvisionCommand(args),
  },
  'sim-demo': {
    summary: 'narrated simulated cluster under faults, in virtual time',
    run: async (args) => (await import('./demo.js')).runDemoCommand(args),
  },
  cluster: {
    summary: 'cluster init: write a ready loopback cluster with fresh keys',
    run: async (args) => (await import('./cluster-init.js')).runClusterCommand(args),
  },
  config: {
    summary: 'config schema | config check FILE',
    run: async (args) => (await import('./config.js')).runConfigCommand(args),
  },
  status: {
    summary: "show the node's state, term, leader and members",
    run: async (args) => (await import('./client-commands.js')).runStatus(args),
  },
  kv: {
    summary: 'kv get|put|del|cas|list: use the replicated key-value store',
    run: async (args) => (await import('./client-commands.js')).runKv(args),
  },
  txn: {
    summary: 'txn --file F: run a transaction (compares, then one branch of puts, deletes and gets)',
    run: async (args) => (await import('./txn-command.js')).runTxn(args),
  },
  lease: {
    summary: 'lease grant TTL_MS | keepalive ID | revoke ID | show ID: keys that vanish unless kept alive',
    run: async (args) => (await import('./lease-command.js')).runLease(args),
  },
  watch: {
    summary: 'watch [--prefix P | KEY] [--since R]: print each change, one per line, and keep following',
    run: async (args) => (await import('./watch-command.js')).runWatch(args),
  },
  members: {
    summary: 'members list|add|remove|rekey: change the cluster (signed with --admin-key)',
    run: async (args) => (await import('./admin-commands.js')).runMembers(args),
  },
  leader: {
    summary: 'leader transfer [--to ID]: hand leadership over',
    run: async (args) => (await import('./admin-commands.js')).runLeader(args),
  },
  admin: {
    summary: 'admin set-key --public-key FILE: rotate the admin key (signed with the current one)',
    run: async (args) => (await import('./admin-commands.js')).runAdmin(args),
  },
  snapshot: {
    summary: 'take a snapshot on the node and compact its log',
    run: async (args) => (await import('./admin-commands.js')).runSnapshot(args),
  },
  backup: {
    summary: 'copy the state of a live cluster, checksummed, into a file (signed with --admin-key)',
    run: async (args) => (await import('./backup-command.js')).runBackup(args),
  },
  restore: {
    summary: 'restore --from FILE --nodes N --dir DIR | --config agent.json: a new cluster seeded with a backup',
    run: async (args) => (await import('./restore-command.js')).runRestore(args),
  },
  recover: {
    summary: 'recover --config FILE --force-new-cluster [--yes]: make a stopped survivor a one-member cluster',
    run: async (args) => (await import('./recover.js')).runRecoverCommand(args),
  },
  sim: {
    summary: 'run a deterministic simulated cluster under faults and check it',
    run: async (args) => (await import('./sim.js')).runSimCommand(args),
  },
};

function usage(): string {
  const lines = ['usage: coraft <command> [options]', '', 'commands:'];
  for (const [name, command] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${command.summary}`);
  lines.push('', "Run 'coraft <command> --help' for a command's options.");
  return lines.join('\n');
}

/**
 * Runs the CLI with `args` (without node and script) and resolves with the exit code; `hooks`, from
 * the bundle's loader, go to `coraft agent` (code-cache.ts).
 */
export async function main(args: readonly string[], hooks?: CodeCacheHooks): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`coraft: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest, hooks);
  } catch (error) {
    // Operating errors end the command with a clear message and an exit code scripts can test:
    // a bad command line 2, a bad configuration (agent.json, an inventory, a key file) 78, as the agent.
    if (error instanceof ConfigError || error instanceof UsageError) {
      process.stderr.write(`coraft ${name}: ${error.message}\n`);
      return error instanceof UsageError ? CLI_EXIT.usage : CLI_EXIT.config;
    }
    throw error;
  }
}
