/**
 * `coraft provision`: writes the bundles of a fleet from its inventory, adds a gateway to a
 * provisioned fleet, or gives a gateway a new key (deploy/provision.ts, deploy/bundle.ts).
 * Idempotent: a re-run keeps every key and rewrites only files whose content changes.
 */
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { writeBundle, type BundleResult } from '../../deploy/bundle.js';
import { parseInventory, planFleet, readFleetState, readInventory, writeFleetState, type FleetState, type Gateway, type GatewaySettings } from '../../deploy/provision.js';
import { parseOptions, UsageError } from './args.js';
import { randomBytes } from 'node:crypto';

const HELP = `usage: coraft provision --inventory FILE --out DIR
       coraft provision --out DIR --add ID ADDRESS [--overrides JSON] [--endpoint HOST:PORT]
       coraft provision --out DIR --rekey ID [--endpoint HOST:PORT]

Writes DIR/bundles/<id>/ for every gateway of the inventory (agent.json, its key, the initial
keystore, the admin key, its systemd drop-in) and keeps the fleet's keys in DIR/secrets/.
A re-run keeps existing keys and writes only what is new or changed.
  --add ID ADDRESS   provision one more gateway for the fleet in DIR and print the
                     'coraft members add' command that admits it
  --overrides JSON   settings of the added gateway (as an inventory gateway's "overrides")
  --rekey ID         give ID a new key and print the 'coraft members rekey' command
  --endpoint H:P     a running gateway's local endpoint, for the printed command
The inventory's schema is deploy/inventory.schema.json in the package.`;

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function report(results: readonly BundleResult[]): void {
  for (const r of results) out(`${r.id}: ${r.dir} ${r.written.length === 0 ? '(unchanged)' : `(wrote ${r.written.join(', ')})`}`);
}

/** Every gateway the state knows: the initial members, then those added. */
function allGateways(state: FleetState): Gateway[] {
  return [...state.members, ...state.added];
}

/** Provisions the fleet of `inventoryFile` into `dir`; returns what each bundle wrote. */
export function provisionFleet(inventoryFile: string, dir: string): BundleResult[] {
  const inventory = readInventory(inventoryFile);
  const state = planFleet(inventory, readFleetState(dir));
  writeFleetState(dir, state);
  const keystore = Object.fromEntries(state.members.map((m) => [m.id, state.keys[m.id] ?? '']));
  return inventory.gateways.map((g) => writeBundle(dir, state, g, state.members, keystore));
}

function requireState(dir: string): FleetState {
  const state = readFleetState(dir);
  if (state === null) throw new ConfigError([`--out: ${resolve(dir)} holds no provisioned fleet; run coraft provision --inventory first`]);
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

/** Provisions gateway `id` for the fleet in `dir`; returns its bundle. */
export function addGateway(dir: string, id: string, address: string, overrides: GatewaySettings | undefined): BundleResult {
  const state = requireState(dir);
  const gateway: Gateway = { id, address, ...(overrides === undefined ? {} : { overrides }) };
  parseInventory({ cluster: state.cluster, gateways: [gateway] });
  if (state.members.some((m) => m.id === id)) throw new ConfigError([`--add: ${id} is an initial member of the fleet already`]);
  const next: FleetState = {
    ...state,
    keys: { ...state.keys, [id]: state.keys[id] ?? randomBytes(32).toString('hex') },
    added: [...state.added.filter((g) => g.id !== id), gateway],
  };
  writeFleetState(dir, next);
  const members = allGateways(next).filter((g) => g.id !== id);
  return writeBundle(dir, next, gateway, members, next.keys);
}

/** Gives `id` a new key and rewrites its bundle's key file; returns its bundle. */
export function rekeyGateway(dir: string, id: string): BundleResult {
  const state = requireState(dir);
  const gateway = allGateways(state).find((g) => g.id === id);
  if (gateway === undefined) throw new ConfigError([`--rekey: ${id} is not a gateway of this fleet`]);
  const next: FleetState = { ...state, keys: { ...state.keys, [id]: randomBytes(32).toString('hex') } };
  writeFleetState(dir, next);
  const isInitial = state.members.some((m) => m.id === id);
  const members = isInitial ? state.members : allGateways(next).filter((g) => g.id !== id);
  const keystore = isInitial ? Object.fromEntries(state.members.map((m) => [m.id, next.keys[m.id] ?? ''])) : next.keys;
  return writeBundle(dir, next, gateway, members, keystore);
}

export function runProvisionCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    inventory: { type: 'string' },
    out: { type: 'string' },
    add: { type: 'string' },
    rekey: { type: 'string' },
    overrides: { type: 'string' },
    endpoint: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    out(HELP);
    return Promise.resolve(0);
  }
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const dir = values.out;
  const secrets = join(resolve(dir), 'secrets');
  const endpoint = `--endpoint ${values.endpoint ?? '127.0.0.1:5683'} --admin-key ${join(secrets, 'admin.key')}`;
  if (values.add !== undefined) {
    const address = positionals[0];
    if (address === undefined) throw new UsageError('--add ID ADDRESS: ADDRESS is required');
    const result = addGateway(dir, values.add, address, parseOverrides(values.overrides));
    report([result]);
    out(`install the bundle on ${values.add}, start it, then admit it from any member:`);
    out(`  coraft members add ${values.add} ${address} --psk-file ${join(result.dir, `${values.add}.key`)} ${endpoint}`);
    return Promise.resolve(0);
  }
  if (values.rekey !== undefined) {
    const result = rekeyGateway(dir, values.rekey);
    report([result]);
    out(`commit the new key from any member, then install ${values.rekey}.key on ${values.rekey} and restart coraft there:`);
    out(`  coraft members rekey ${values.rekey} --psk-file ${join(result.dir, `${values.rekey}.key`)} ${endpoint}`);
    return Promise.resolve(0);
  }
  if (values.inventory === undefined) throw new UsageError('--inventory FILE is required (or --add / --rekey)');
  report(provisionFleet(values.inventory, dir));
  return Promise.resolve(0);
}
