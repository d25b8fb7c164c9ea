/**
 * The agent's configuration file: JSON validated once at startup against the JSON Schema kept
 * in agent-config.schema.json (printed by `coraft config schema`), by a validator Ajv compiled
 * from it ahead of time (agent-config-validate.ts), so no schema compiler runs at start-up.
 * Every problem names the field and what was expected; relative paths resolve against the file's folder; keys are read
 * and checked here, so a bad file stops the agent before it touches anything.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { validate as compiledValidate } from './agent-config-validate.js';
import { ConfigError, describeError } from '../../contracts/errors.js';
import { DEFAULT_RAFT_CONFIGURATION, validateRaftConfiguration } from '../../contracts/raft-configuration.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { ClusterMember, NodeId } from '../../contracts/log.js';
import type { LogLevel } from '../../contracts/logger.js';
import { configurationProblems, simpleConfiguration } from '../core/configuration.js';
import { removedFieldProblems, resolveTrustSettings, type TrustSettings } from './trust-config.js';
import { raftDefaultsForHeap } from './memory-budget.js';
import { PEER_WHOLE_BODY_BYTES_MAX } from '../../transport/coap/config.js';

export { isLoopbackHost, parseHexKey, readKeyFile, type EndpointIdentity } from './trust-config.js';

/** Metrics settings, resolved. */
export interface MetricsSettings {
  readonly kind: 'prometheus' | 'statsd' | 'cloudwatch-emf' | 'none';
  readonly listen: string;
  readonly statsdHost: string;
  readonly statsdPort: number;
  readonly prefix: string;
  readonly emfFile: string | null;
  readonly emfNamespace: string;
  readonly flushIntervalMs: number;
}

/**
 * The persistence engines `storage` names: `wal`, LMDB behind a write-ahead log
 * (storage/wal/, the default); `lmdb-direct`, LMDB alone, one LMDB commit per write
 * (storage/lmdb/); `memory`, nothing kept on exit (storage/memory.ts).
 */
export type StorageEngineName = 'wal' | 'lmdb-direct' | 'memory';

/**
 * What agent.json's `storage` accepts: an engine's name, or `lmdb`, the name the `wal` engine
 * had before, kept so that existing files open the engine they always opened.
 */
export type StorageSetting = StorageEngineName | 'lmdb';

/** Every value `storage` accepts (the schema's enum), the engines first. */
export const STORAGE_SETTINGS: readonly StorageSetting[] = ['wal', 'lmdb-direct', 'memory', 'lmdb'];

/** Narrows a command-line value to a {@link StorageSetting}. */
export function isStorageSetting(value: string): value is StorageSetting {
  return STORAGE_SETTINGS.some((setting) => setting === value);
}

/** The engine a `storage` setting opens: `lmdb` is `wal`, every other value names itself. */
export function storageEngineOf(setting: StorageSetting): StorageEngineName {
  return setting === 'lmdb' ? 'wal' : setting;
}

/** A validated, resolved agent configuration. */
export interface AgentConfig {
  /** Absolute path of the file it was read from. */
  readonly file: string;
  readonly nodeId: NodeId;
  readonly dataDir: string;
  readonly listenPeer: HostPort;
  readonly listenEndpoint: HostPort;
  readonly members: readonly ClusterMember[];
  /** The members marked `"witness": true` (DESIGN.md, "Witness members"). */
  readonly witnesses: readonly NodeId[];
  /** This node is a witness: marked so among the members, or by the top-level `witness`. */
  readonly witness: boolean;
  readonly transport: 'coaps' | 'coap' | 'http' | 'https';
  /**
   * CoAP transports: the largest peer RPC body sent whole in one datagram, bytes (CoapClientOptions
   * .wholeBodyBytesMax of the peer client). Default PEER_WHOLE_BODY_BYTES_MAX; 1024..that.
   */
  readonly peerWholeBodyBytesMax: number;
  readonly codec: 'cbor' | 'json' | 'protobuf';
  /** The engine to open; the alias `lmdb` is resolved to `wal`. */
  readonly storage: StorageEngineName;
  /** The cluster id: in every signed admin command and in the associated data of wrapped link keys. */
  readonly cluster: TrustSettings['cluster'];
  /**
   * This node's link keys (peer id -> the PSK of the link with it) and its node secret (which
   * opens the link keys that reach it through the log), when the transport uses PSKs.
   */
  readonly psk: TrustSettings['psk'];
  /** The genesis admin public key (Ed25519): verifies signed admin commands until a rotation is applied. */
  readonly adminPublicKey: TrustSettings['adminPublicKey'];
  /** The local endpoint's identities: key-value access and admin access. Both null: plain CoAP (loopback only). */
  readonly endpointKeys: TrustSettings['endpointKeys'];
  readonly raft: RaftConfiguration;
  readonly mapSizeMaxBytes: number;
  /** Free bytes the data folder keeps: below it client writes are refused (agent/runtime/disk-guard.ts); 0: off. */
  readonly diskReserveBytes: number;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'console';
  readonly metrics: MetricsSettings;
  readonly trace: string | null;
  readonly kv: Readonly<Record<string, unknown>>;
  /**
   * The space quota of the key-value store this member proposes when it leads (agent/kv/quota.ts),
   * bytes; 0: none (the default). A cluster setting replicated through the log.
   */
  readonly quotaBytes: number;
}

/** Default of storageOptions.diskReserveBytes: 32 MiB. */
export const DISK_RESERVE_BYTES_DEFAULT = 32 * 1024 * 1024;

/** A listening address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The file's shape, as the schema guarantees it after validation. */
interface RawAgentConfig {
  nodeId: string;
  dataDir: string;
  listen: { peer: string; endpoint: string };
  members: { id: string; address: string; witness?: boolean }[];
  witness?: boolean;
  transport?: 'coaps' | 'coap' | 'http' | 'https';
  peerWholeBodyBytesMax?: number;
  codec?: 'cbor' | 'json' | 'protobuf';
  storage?: StorageSetting;
  cluster?: string;
  psk?: { identity: string; keystoreFile: string; nodeSecretFile: string; keyFile?: string };
  admin?: { publicKeyFile: string };
  endpointKeys?: { kv?: { identity: string; keyFile: string }; admin?: { identity: string; keyFile: string } };
  endpointPsk?: unknown;
  raft?: Partial<RaftConfiguration>;
  storageOptions?: { mapSizeMaxBytes?: number; diskReserveBytes?: number };
  logging?: { level?: LogLevel; format?: 'json' | 'console' };
  metrics?: Partial<Omit<MetricsSettings, 'emfFile'>> & { emfFile?: string };
  trace?: string;
  kv?: Record<string, unknown>;
  quotaBytes?: number;
}

/**
 * The agent's Raft timing when agent.json sets none, sized for a gateway at rest (issue 17): a
 * heartbeat every 200 ms on a 20 ms tick, with the election timeout kept at three heartbeat
 * intervals and up (600-1,200 ms; etcd's defaults are a 100 ms heartbeat and a 1,000 ms election
 * timeout, so a dead leader is still noticed sooner than there). Each heartbeat round costs an
 * idle leader two DTLS records out and two in, and with a 100 ms heartbeat those rounds were most
 * of its CPU at rest (1.75 % of a core against etcd's 1.1 %); at 200 ms they cost half as much.
 * Reads do not wait for a heartbeat round (a ReadIndex sends its own at once), and the first
 * campaign of a fresh cluster comes one heartbeat interval after start (earlyFirstCampaign).
 * A peer RPC's deadline stays 300 ms (issue 16): a follower answers an append only after its
 * sync, and under load that took longer than the reference's 100 ms (whose first CoAP
 * retransmission comes after 25 ms), so each slow sync cost a resent 16 KiB append and a
 * timed-out one dropped the follower from pipelining to probing; at 64 clients of 4 KiB values
 * the longer deadline cut the CPU per write by about a quarter. It is no longer than the
 * shortest election timeout. Everything else is the reference's (DEFAULT_RAFT_CONFIGURATION,
 * which the simulator uses).
 */
export const AGENT_RAFT_DEFAULTS: RaftConfiguration = {
  ...DEFAULT_RAFT_CONFIGURATION,
  tickIntervalMs: 20,
  heartbeatIntervalMs: 200,
  electionTimeoutMinMs: 600,
  electionTimeoutMaxMs: 1_200,
  rpcTimeoutMs: 300,
};

/** Ajv's validator for agent-config.schema.json, compiled ahead of time (see validator-source.ts). */
interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
const validator: CompiledValidator = compiledValidate;

/** Whether `raw` follows the schema; when not, `validator.errors` says why. */
function validate(raw: unknown): raw is RawAgentConfig {
  return validator(raw);
}

/** Parses "host:port" (IPv6 hosts in brackets). */
export function parseHostPort(text: string, field: string): HostPort {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || host === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError([`${field}: expected "host:port" with a port from 0 to 65535, got ${JSON.stringify(text)}`]);
  }
  return { host, port };
}

function describe(error: ErrorObject): string {
  const path =
    error.instancePath === ''
      ? '(top level)'
      : error.instancePath
          .slice(1)
          .replace(/\/(\d+)/g, '[$1]')
          .replace(/\//g, '.');
  if (error.keyword === 'additionalProperties')
    return `${path}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  if (error.keyword === 'enum')
    return (
      `${path}: expected one ` +
      `of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    );
  if (error.keyword === 'required')
    return `${path}: missing required field ${JSON.stringify(error.params.missingProperty)}`;
  return `${path}: ${error.message ?? 'invalid'}`;
}

/**
 * Whether two UDP listen addresses would take the same socket: the same port (0 picks a free one)
 * on the same host, or on a wildcard host, which covers every address (and `::` IPv4 too).
 */
function sharesUdpPort(a: HostPort, b: HostPort): boolean {
  const wildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';
  return a.port !== 0 && a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}

/** Reads, validates and resolves the configuration file at `file`. */
export function loadAgentConfig(file: string): AgentConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read configuration file ${path}: ${describeError(error)}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${path} is not valid JSON: ${describeError(error)}`]);
  }
  return resolveAgentConfig(raw, path);
}

/**
 * Validates a parsed configuration `raw` read from `path`. The Raft log's bounds that agent.json
 * leaves out are sized to `heapLimitBytes` (memory-budget.ts; default this process's V8 heap limit).
 */
export function resolveAgentConfig(
  raw: unknown,
  path: string,
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
): AgentConfig {
  if (!validate(raw)) throw new ConfigError([...removedFieldProblems(raw), ...(validator.errors ?? []).map(describe)]);
  const base = dirname(path);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const problems: string[] = [];
  const raft: RaftConfiguration = { ...raftDefaultsForHeap(AGENT_RAFT_DEFAULTS, heapLimitBytes), ...raw.raft };
  problems.push(...validateRaftConfiguration(raft).map((p) => `raft.${p}`));
  const transport = raw.transport ?? 'coaps';
  const ids = raw.members.map((m) => m.id);
  if (new Set(ids).size !== ids.length) problems.push('members: duplicate ids');
  const witnesses = raw.members.filter((m) => m.witness === true).map((m) => m.id);
  // Witnesses fewer than a quorum, so that every quorum holds a full member (DESIGN.md).
  for (const problem of configurationProblems(simpleConfiguration(ids, [], witnesses)))
    if (problem.includes('witness')) problems.push(`members: ${problem}`);
  if (problems.length > 0) throw new ConfigError(problems);
  const listenEndpoint = parseHostPort(raw.listen.endpoint, 'listen.endpoint');
  const listenPeer = parseHostPort(raw.listen.peer, 'listen.peer');
  // A plain UDP socket binds an address, not a name (coaps and http(s) peers look theirs up).
  for (const [field, address, needsIp] of [
    ['listen.endpoint', listenEndpoint, true],
    ['listen.peer', listenPeer, transport === 'coap'],
  ] as const)
    if (needsIp && isIP(address.host) === 0)
      throw new ConfigError([`${field}: the host "${address.host}" is not an IP address; give one, e.g. 127.0.0.1`]);
  if (transport !== 'http' && transport !== 'https' && sharesUdpPort(listenPeer, listenEndpoint))
    throw new ConfigError([
      `listen.peer (${raw.listen.peer}) and listen.endpoint (${raw.listen.endpoint}): the same UDP port; ` +
        'the peer server and the local endpoint each need their own',
    ]);
  const trust = resolveTrustSettings(raw, at, listenEndpoint.host, transport === 'coaps' || transport === 'https');
  const metrics = raw.metrics ?? {};
  return {
    file: path,
    nodeId: raw.nodeId,
    dataDir: at(raw.dataDir),
    listenPeer,
    listenEndpoint,
    members: raw.members.map((m) => ({ id: m.id, address: m.address })),
    witnesses,
    witness: raw.witness === true || witnesses.includes(raw.nodeId),
    transport,
    peerWholeBodyBytesMax: raw.peerWholeBodyBytesMax ?? PEER_WHOLE_BODY_BYTES_MAX,
    codec: raw.codec ?? 'cbor',
    storage: storageEngineOf(raw.storage ?? 'wal'),
    ...trust,
    raft,
    mapSizeMaxBytes: raw.storageOptions?.mapSizeMaxBytes ?? 1024 * 1024 * 1024,
    diskReserveBytes: raw.storageOptions?.diskReserveBytes ?? DISK_RESERVE_BYTES_DEFAULT,
    logLevel: raw.logging?.level ?? 'info',
    logFormat: raw.logging?.format ?? 'json',
    metrics: {
      kind: metrics.kind ?? 'none',
      listen: metrics.listen ?? '127.0.0.1:9464',
      statsdHost: metrics.statsdHost ?? '127.0.0.1',
      statsdPort: metrics.statsdPort ?? 8125,
      prefix: metrics.prefix ?? 'coraft',
      emfFile: metrics.emfFile === undefined ? null : at(metrics.emfFile),
      emfNamespace: metrics.emfNamespace ?? 'coraft',
      flushIntervalMs: metrics.flushIntervalMs ?? 10_000,
    },
    trace: raw.trace === undefined ? null : at(raw.trace),
    kv: raw.kv ?? {},
    quotaBytes: raw.quotaBytes ?? 0,
  };
}
