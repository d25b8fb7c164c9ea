/**
 * Fleet provisioning: from an inventory (deploy/inventory.schema.json) to one bundle per
 * gateway. The output folder keeps the fleet's secrets (secrets/fleet.json: every gateway's
 * key, the admin key and the members), so a re-run keeps existing keys and writes only what
 * changed, `--add` provisions one more gateway for the running fleet and `--rekey` a new key.
 *
 * OUT/
 *   secrets/fleet.json            the provisioner's state (0600; keep it safe, it holds every key)
 *   secrets/admin.key             the admin key of the local endpoints (for the CLI's --admin-key)
 *   bundles/<id>/agent.json       the gateway's configuration (installed in /etc/coraft)
 *   bundles/<id>/<id>.key         its own key
 *   bundles/<id>/keystore.json    the initial keystore: the keys it accepts before the log speaks
 *   bundles/<id>/admin.key        the admin key its local endpoint accepts
 *   bundles/<id>/coraft.service.d/10-gateway.conf   its systemd drop-in
 *
 * Every file holding a key is written mode 0600 in folders of mode 0700; keys are never printed.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import schema from './inventory.schema.json' with { type: 'json' };
import { ConfigError } from '../agent/errors.js';
import type { StorageSetting } from '../agent/config/agent-config.js';
import { readSecretText, writeFileDurably } from '../agent/config/secret-files.js';
import { isHexKey } from '../agent/membership/keystore.js';

/** Settings of a gateway, from the inventory's defaults and its overrides. */
export interface GatewaySettings {
  readonly transport?: 'coaps' | 'https';
  readonly codec?: 'cbor' | 'json' | 'protobuf';
  /** The persistence engine, as agent.json's `storage`. Default wal. */
  readonly storage?: StorageSetting;
  readonly dataDir?: string;
  readonly listenHost?: string;
  readonly endpoint?: string;
  readonly memoryMax?: string;
  readonly raft?: Readonly<Record<string, unknown>>;
  readonly logging?: Readonly<Record<string, unknown>>;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly storageOptions?: Readonly<Record<string, unknown>>;
  readonly kv?: Readonly<Record<string, unknown>>;
}

/** One gateway of the fleet. */
export interface Gateway {
  readonly id: string;
  readonly address: string;
  readonly overrides?: GatewaySettings;
}

/** A validated inventory. */
export interface Inventory {
  readonly cluster: string;
  readonly defaults?: GatewaySettings;
  readonly gateways: readonly Gateway[];
}

/** The provisioner's state, kept in OUT/secrets/fleet.json. */
export interface FleetState {
  readonly cluster: string;
  /** Hex key of every gateway ever provisioned and not forgotten. */
  readonly keys: Readonly<Record<string, string>>;
  readonly adminKey: string;
  /** The initial members (from the inventory, with their overrides), in inventory order. */
  readonly members: readonly Gateway[];
  /** Gateways provisioned with --add, with their settings. */
  readonly added: readonly Gateway[];
  readonly defaults: GatewaySettings;
}

/** The admin identity of every gateway's local endpoint. */
export const ADMIN_IDENTITY = 'admin';

const Ajv = AjvModule.default;
const validateInventory = new Ajv({ allErrors: true, strict: false }).compile<Inventory>(schema);

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replace(/\//g, '.');
  if (error.keyword === 'additionalProperties') return `${path}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  return `${path}: ${error.message ?? 'invalid'}`;
}

/** Validates an inventory document; throws ConfigError naming every problem. */
export function parseInventory(value: unknown): Inventory {
  if (!validateInventory(value)) throw new ConfigError((validateInventory.errors ?? []).map(describe));
  const ids = new Set<string>();
  const problems: string[] = [];
  for (const gateway of value.gateways) {
    if (ids.has(gateway.id)) problems.push(`gateways: ${gateway.id} is listed twice`);
    ids.add(gateway.id);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return value;
}

/** Reads and validates an inventory file. */
export function readInventory(file: string): Inventory {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([`--inventory: cannot read ${file} as JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
  return parseInventory(value);
}

const newKey = (): string => randomBytes(32).toString('hex');

/**
 * Writes `text` to `file` (mode 0600) unless it already holds it; true when written. A write is
 * durable (fsync before the rename, see writeFileDurably). The comparison reads the provisioner's
 * own output, and an unchanged file gets its mode back, so a loosened bundle file is tightened.
 */
export function writeIfChanged(file: string, text: string, mode = 0o600): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === text) {
    chmodSync(file, mode);
    return false;
  }
  writeFileDurably(file, text, mode);
  return true;
}

function secretsDir(out: string): string {
  const dir = join(resolve(out), 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** Reads the fleet's state from OUT, or null when OUT holds none. */
export function readFleetState(out: string): FleetState | null {
  const file = join(resolve(out), 'secrets', 'fleet.json');
  if (!existsSync(file)) return null;
  return parseFleetState(JSON.parse(readSecretText(file, '--out secrets/fleet.json')), file);
}

/** Validates a fleet state document; throws ConfigError naming the file and the problem. */
export function parseFleetState(value: unknown, file: string): FleetState {
  const problem = (message: string): ConfigError => new ConfigError([`${file}: ${message}`]);
  if (typeof value !== 'object' || value === null) throw problem('not a JSON object');
  const field = (name: string): unknown => Reflect.get(value, name);
  const [cluster, keys, adminKey, members, added, defaults] = ['cluster', 'keys', 'adminKey', 'members', 'added', 'defaults'].map(field);
  if (typeof cluster !== 'string' || !isHexKey(adminKey) || typeof keys !== 'object' || keys === null || !Array.isArray(members) || !Array.isArray(added)) {
    throw problem('expected {cluster, keys, adminKey, members[], added[], defaults}');
  }
  const keyMap: Record<string, string> = {};
  for (const [id, hex] of Object.entries(keys)) {
    if (!isHexKey(hex)) throw problem(`the key of ${id} is not a hex key`);
    keyMap[id] = hex;
  }
  const gateways = [members, added].flatMap((list: unknown[]) => list.map((gateway: unknown) => gateway));
  const inventory = parseInventory({ cluster, defaults: defaults ?? {}, gateways });
  return { cluster, keys: keyMap, adminKey, members: inventory.gateways.slice(0, members.length), added: inventory.gateways.slice(members.length), defaults: inventory.defaults ?? {} };
}

/** Saves the fleet's state (and the admin key for the CLI) in OUT/secrets. */
export function writeFleetState(out: string, state: FleetState): void {
  const dir = secretsDir(out);
  writeIfChanged(join(dir, 'fleet.json'), `${JSON.stringify(state, null, 2)}\n`);
  writeIfChanged(join(dir, 'admin.key'), `${state.adminKey}\n`);
}

/** The state after provisioning `inventory`: existing keys kept, new gateways keyed. */
export function planFleet(inventory: Inventory, previous: FleetState | null): FleetState {
  if (previous !== null && previous.cluster !== inventory.cluster) {
    throw new ConfigError([`cluster: the output folder holds cluster ${JSON.stringify(previous.cluster)}, not ${JSON.stringify(inventory.cluster)}`]);
  }
  const keys: Record<string, string> = { ...(previous?.keys ?? {}) };
  for (const gateway of inventory.gateways) keys[gateway.id] ??= newKey();
  return {
    cluster: inventory.cluster,
    keys,
    adminKey: previous?.adminKey ?? newKey(),
    members: inventory.gateways,
    added: previous?.added ?? [],
    defaults: inventory.defaults ?? {},
  };
}
