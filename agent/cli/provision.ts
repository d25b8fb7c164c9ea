/**
 * `coraft provision`: writes the bundles of a fleet from its inventory, and changes a
 * provisioned fleet: add or remove a gateway, rekey one, rotate the admin key
 * (agent/fleet/: provision.ts, bundle.ts, fleet-keys.ts). Idempotent: every key derives
 * from the fleet secret, so a re-run rewrites only files whose content changes. Each change
 * prints the signed `coraft` command that commits it to the running cluster.
 */
import { existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../contracts/errors.js';
import { writeBundle, type BundleResult } from '../fleet/bundle.js';
import { linksDocument, linksFile, newAdminKeyPair } from '../fleet/fleet-keys.js';
import {
  currentGateways,
  fleetKeysOf,
  parseInventory,
  planFleet,
  readFleetState,
  readInventory,
  secretsDir,
  writeFleetState,
  writeIfChanged,
  type FleetState,
  type Gateway,
  type GatewaySettings,
} from '../fleet/provision.js';
import { parseOptions, refuseExtraPositionals, UsageError } from './args.js';
import { provisionRestored } from './provision-restore.js';

const HELP = `usage: coraft provision --inventory FILE --out DIR [--restore BACKUP]
       coraft provision --out DIR --add ID ADDRESS [--overrides JSON] [--via ID] [--endpoint HOST:PORT]
       coraft provision --out DIR --remove ID [--via ID] [--endpoint HOST:PORT]
       coraft provision --out DIR --rekey ID [--via ID] [--endpoint HOST:PORT]
       coraft provision --out DIR --rotate-admin-key [--via ID] [--endpoint HOST:PORT]

Writes DIR/bundles/<id>/ for every gateway (agent.json, its link keys, its node secret, the
admin public key, its endpoint keys, its systemd drop-in) and keeps the fleet secret and the
admin key in DIR/secrets/ (keep that folder on the provisioning host). A re-run writes only
what is new or changed.
  --restore BACKUP     a new fleet seeded with a backup (coraft backup): every bundle gets it as
                       restore.backup; run 'coraft restore --config' on each gateway before its first start
  --add ID ADDRESS     provision one more gateway; print the signed 'coraft members add'
  --overrides JSON     settings of the added gateway (as an inventory gateway's "overrides")
  --remove ID          drop a gateway from every bundle; print 'coraft members remove'
  --rekey ID           give ID new keys (all its links); print 'coraft members rekey'
  --rotate-admin-key   make a new admin key; print the 'coraft admin set-key' that commits it
  --via ID             the gateway whose local endpoint the printed command uses (default: the first other one)
  --endpoint H:P       its endpoint address, when not the one in its bundle
The inventory's schema is deploy/inventory.schema.json in the package.`;

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function report(results: readonly BundleResult[]): void {
  for (const r of results)
    out(`${r.id}: ${r.dir} ${r.written.length === 0 ? '(unchanged)' : `(wrote ${r.written.join(', ')})`}`);
}

/** Writes the bundle of every current gateway; initial members start with the initial cluster, added ones join it. */
function writeAllBundles(dir: string, state: FleetState): BundleResult[] {
  const current = currentGateways(state);
  const initial = new Set(state.members.map((g) => g.id));
  return current.map((g) =>
    writeBundle(
      dir,
      state,
      g,
      initial.has(g.id) ? current.filter((m) => initial.has(m.id)) : current.filter((m) => m.id !== g.id),
    ),
  );
}

/** Provisions the fleet of `inventoryFile` into `dir`; returns what each bundle wrote. */
export function provisionFleet(inventoryFile: string, dir: string): BundleResult[] {
  const inventory = readInventory(inventoryFile);
  const state = planFleet(dir, inventory, readFleetState(dir));
  writeFleetState(dir, state);
  return writeAllBundles(dir, state);
}

function requireState(dir: string): FleetState {
  const state = readFleetState(dir);
  if (state === null)
    throw new ConfigError([
      `--out: ${resolve(dir)} holds no provisioned fleet; run coraft provision --inventory first`,
    ]);
  return state;
}

function parseOverrides(json: string | undefined): GatewaySettings | undefined {
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new UsageError('--overrides: not JSON');
  }
  // Validate through the inventory schema by wrapping it in a one-gateway inventory.
  const inventory = parseInventory({ cluster: 'x', gateways: [{ id: 'x', address: 'x:1', overrides: value }] });
  return inventory.gateways[0]?.overrides;
}

/** Writes the links file of `id`: its link keys wrapped for every other current gateway. */
function writeLinks(dir: string, state: FleetState, id: string): string {
  const file = linksFile(secretsDir(dir), id);
  writeIfChanged(
    file,
    linksDocument(
      fleetKeysOf(state),
      id,
      currentGateways(state).map((g) => g.id),
    ),
  );
  return file;
}

const bump = (state: FleetState, id: string): Record<string, number> => ({
  ...state.generations,
  [id]: (state.generations[id] ?? 1) + 1,
});

/** Provisions gateway `id` for the fleet in `dir`; returns every bundle written and the links file. */
export function addGateway(
  dir: string,
  id: string,
  address: string,
  overrides: GatewaySettings | undefined,
): { bundles: BundleResult[]; links: string } {
  const state = requireState(dir);
  const gateway: Gateway = { id, address, ...(overrides === undefined ? {} : { overrides }) };
  parseInventory({ cluster: state.cluster, gateways: [gateway] });
  const wasRemoved = state.removed.includes(id);
  if (state.members.some((m) => m.id === id) && !wasRemoved)
    throw new ConfigError([`--add: ${id} is an initial member of the fleet already`]);
  const sharing = currentGateways(state).find((g) => g.id !== id && g.address.toLowerCase() === address.toLowerCase());
  if (sharing !== undefined)
    throw new ConfigError([
      `--add: ${sharing.id} is reached at ${address} already; each gateway needs its own address`,
    ]);
  const next: FleetState = {
    ...state,
    // A gateway that comes back gets new keys: the files it had before must not work again.
    generations: wasRemoved ? bump(state, id) : state.generations,
    members: state.members.filter((m) => m.id !== id),
    added: [...state.added.filter((g) => g.id !== id), gateway],
    removed: state.removed.filter((r) => r !== id),
  };
  writeFleetState(dir, next);
  return { bundles: writeAllBundles(dir, next), links: writeLinks(dir, next, id) };
}

/** Drops `id` from the fleet: no bundle names it any more. */
export function removeGateway(dir: string, id: string): BundleResult[] {
  const state = requireState(dir);
  if (!currentGateways(state).some((g) => g.id === id))
    throw new ConfigError([`--remove: ${id} is not a gateway of this fleet`]);
  const next: FleetState = { ...state, removed: [...state.removed, id] };
  writeFleetState(dir, next);
  return writeAllBundles(dir, next);
}

/** Gives `id` new keys (a new generation: every link it is an end of changes). */
export function rekeyGateway(dir: string, id: string): { bundles: BundleResult[]; links: string } {
  const state = requireState(dir);
  if (state.removed.includes(id))
    throw new ConfigError([`--rekey: ${id} was removed from the fleet; --add ${id} ADDRESS gives it new keys`]);
  if (!currentGateways(state).some((g) => g.id === id))
    throw new ConfigError([`--rekey: ${id} is not a gateway of this fleet`]);
  const next: FleetState = { ...state, generations: bump(state, id) };
  writeFleetState(dir, next);
  return { bundles: writeAllBundles(dir, next), links: writeLinks(dir, next, id) };
}

/** Makes a new admin key pair; the previous private key stays as admin.previous.key to sign the rotation. */
export function rotateAdminKey(dir: string): { previous: string; current: string; publicKey: string } {
  requireState(dir);
  const secrets = secretsDir(dir);
  const current = join(secrets, 'admin.key');
  const previous = join(secrets, 'admin.previous.key');
  if (!existsSync(current)) throw new ConfigError([`--rotate-admin-key: ${current} is missing`]);
  renameSync(current, previous);
  const pair = newAdminKeyPair();
  writeIfChanged(current, pair.privateKeyPem);
  writeIfChanged(join(secrets, 'admin.pub'), pair.publicKeyPem, 0o644);
  return { previous, current, publicKey: join(secrets, 'admin.pub') };
}

/** The endpoint options of a printed command: gateway `via`'s endpoint and admin endpoint key. */
function endpointOptions(
  dir: string,
  state: FleetState,
  changed: string | null,
  via: string | undefined,
  endpoint: string | undefined,
): string {
  const gateway =
    via === undefined
      ? currentGateways(state).find((g) => g.id !== changed)
      : currentGateways(state).find((g) => g.id === via);
  if (gateway === undefined)
    throw new UsageError(`--via: ${via ?? '(default)'} is not a current gateway other than ${changed ?? '-'}`);
  const settings = { ...state.defaults, ...gateway.overrides };
  const address = endpoint ?? settings.endpoint ?? '127.0.0.1:5683';
  // A plain CoAP endpoint (endpointKeys false, as a cluster init node's) is reached without a key.
  if (settings.endpointKeys === false) return `--endpoint ${address}`;
  return `--endpoint ${address} --endpoint-key ${join(resolve(dir), 'bundles', gateway.id, 'endpoint-admin.key')}`;
}

/** Refuses a command line asking for more than one change: each run makes one, and a second would be ignored. */
function refuseSeveralChanges(values: {
  readonly add?: string | undefined;
  readonly remove?: string | undefined;
  readonly rekey?: string | undefined;
  readonly 'rotate-admin-key'?: boolean | undefined;
  readonly inventory?: string | undefined;
  readonly restore?: string | undefined;
}): void {
  const changes = [
    values.add === undefined ? '' : '--add',
    values.remove === undefined ? '' : '--remove',
    values.rekey === undefined ? '' : '--rekey',
    values['rotate-admin-key'] === true ? '--rotate-admin-key' : '',
    values.inventory === undefined && values.restore === undefined ? '' : '--inventory',
  ].filter((change) => change !== '');
  if (changes.length > 1) throw new UsageError(`${changes.join(' and ')}: one change a run; run provision for each`);
}

/** The options of `coraft provision`. */
const OPTIONS = {
  inventory: { type: 'string' },
  out: { type: 'string' },
  add: { type: 'string' },
  remove: { type: 'string' },
  rekey: { type: 'string' },
  'rotate-admin-key': { type: 'boolean' },
  overrides: { type: 'string' },
  via: { type: 'string' },
  endpoint: { type: 'string' },
  restore: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export function runProvisionCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, OPTIONS, 1);
  // Only --add takes a positional argument, its ADDRESS.
  if (values.add === undefined) refuseExtraPositionals(positionals, 0);
  if (values.help === true) {
    out(HELP);
    return Promise.resolve(0);
  }
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  refuseSeveralChanges(values);
  const dir = values.out;
  const adminKey = `--admin-key ${join(resolve(dir), 'secrets', 'admin.key')}`;
  const target = (changed: string | null): string =>
    endpointOptions(dir, requireState(dir), changed, values.via, values.endpoint);
  if (values.add !== undefined) {
    const address = positionals[0];
    if (address === undefined) throw new UsageError('--add ID ADDRESS: ADDRESS is required');
    const result = addGateway(dir, values.add, address, parseOverrides(values.overrides));
    report(result.bundles);
    out(`install the bundle on ${values.add}, start it, then admit it (the command is signed with the admin key):`);
    out(`  coraft members add ${values.add} ${address} --links ${result.links} ${adminKey} ${target(values.add)}`);
    return Promise.resolve(0);
  }
  if (values.remove !== undefined) {
    report(removeGateway(dir, values.remove));
    out(`remove it from the running cluster (its links are deleted on every member when the removal commits):`);
    out(`  coraft members remove ${values.remove} ${adminKey} ${target(values.remove)}`);
    return Promise.resolve(0);
  }
  if (values.rekey !== undefined) {
    const result = rekeyGateway(dir, values.rekey);
    report(result.bundles);
    out(
      `commit the new links from another member, then install ${values.rekey}'s new bundle and restart coraft there:`,
    );
    out(`  coraft members rekey ${values.rekey} --links ${result.links} ${adminKey} ${target(values.rekey)}`);
    return Promise.resolve(0);
  }
  if (values['rotate-admin-key'] === true) {
    const rotated = rotateAdminKey(dir);
    out(`wrote a new admin key ${rotated.current}; commit its public key, signed with the previous one:`);
    out(`  coraft admin set-key --public-key ${rotated.publicKey} --admin-key ${rotated.previous} ${target(null)}`);
    return Promise.resolve(0);
  }
  if (values.inventory === undefined)
    throw new UsageError('--inventory FILE is required (or --add, --remove, --rekey, --rotate-admin-key)');
  if (values.restore !== undefined) {
    const restored = provisionRestored(values.inventory, dir, values.restore, provisionFleet);
    if (restored === 1) return Promise.resolve(1);
    report(restored);
    return Promise.resolve(0);
  }
  report(provisionFleet(values.inventory, dir));
  return Promise.resolve(0);
}
