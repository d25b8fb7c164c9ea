/**
 * The node's replicated state: the KV state machine plus the trust state, applied entry by
 * entry in log order on every replica.
 *
 * - An admin entry (a signed command the leader proposed) is verified again here, on every
 *   replica, against the replicated admin key, cluster, log clock and nonces; it is applied to
 *   the trust state or refused, identically everywhere. A faulty leader that puts an unsigned,
 *   forged, foreign, expired or replayed command in the log changes nothing.
 * - A KV command on a reserved key (`.coraft/`) is refused here too (KV_RESERVED_KEY), whoever
 *   proposed it: agent state changes only through verified admin entries.
 * - A configuration entry revokes every member it removes and deletes its links; a snapshot
 *   carries the trust state, so a removal that arrives inside one is applied as well.
 *
 * The KV state machine sees every entry (admin and refused ones as no-ops), so its index and
 * snapshots stay its own. After each change of credentials, `onCredentialsChanged` tells the
 * node (outside the deterministic state) whose sessions to close.
 */
import type { LogEntry, NodeId, SnapshotMeta } from '../../contracts/log.js';
import type { SnapshotEncoder, StateMachine } from '../../contracts/state-machine.js';
import type { StoredImage } from '../../contracts/persistence.js';
import { allMembers, decodeConfiguration } from '../core/configuration.js';
import { Encoder } from 'cbor-x';
import { encodeCbor } from '../kv/index.js';
import { SerializationError } from '../../contracts/errors.js';
import { decodeCbor } from '../kv/fields.js';
import { decodeKvCommand, encodeKvResult, operationKeys } from '../kv/index.js';
import type { KvStateMachine } from '../kv/index.js';
import { isSystemKey, SYSTEM_KEY_PREFIX } from '../membership/keystore.js';
import { decodeSignedAdmin, isLoggedOperation } from './admin-command.js';
import {
  decodeAdminEntry,
  decodeNodeState,
  decodeTrustImage,
  encodeAdminApplyResult,
  encodeNodeStateParts,
  NodeStateChunks,
  encodeTrustImage,
  splitStoredNodeState,
} from './trust-codec.js';
import { TrustState, type AdminOutcome, type TrustContext, type TrustImage } from './trust-state.js';

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/**
 * The query that a replica answers with the index it has applied (CBOR `{op: 'applied-index'}`):
 * run as a linearizable read (ReadIndex), it gives an index at least as new as every write
 * acknowledged before it was asked, which a backup then waits for (agent/backup/). It reveals no
 * key or value.
 */
export const APPLIED_INDEX_QUERY = Buffer.from(encodeCbor(encoder, { op: 'applied-index' }));

/** The answer to {@link APPLIED_INDEX_QUERY}: CBOR `{appliedIndex: N}`. */
function encodeAppliedIndex(index: number): Uint8Array {
  return encodeCbor(encoder, { appliedIndex: index });
}

/** Reads the answer to {@link APPLIED_INDEX_QUERY}; throws SerializationError when it is not one. */
export function decodeAppliedIndex(bytes: Uint8Array): number {
  const value = decodeCbor(bytes, 'applied index');
  const index: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'appliedIndex') : null;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0)
    throw new SerializationError('CODEC_MALFORMED', 'not an applied index answer (a node of an older version?)');
  return index;
}

/** Told after an applied entry or a restored snapshot changed credentials. */
export type CredentialsListener = (ids: readonly NodeId[] | 'all') => void;

const NOOP = new Uint8Array(0);
/** The CBOR text string 'admin' that every admin entry holds (its op). */
export const ADMIN_MARKER = Buffer.from([0x65, ...Buffer.from('admin')]);
/** The reserved prefix as bytes: a command without it cannot name a reserved key. */
const RESERVED_MARKER = Buffer.from(SYSTEM_KEY_PREFIX);

export class TrustedStateMachine implements StateMachine {
  readonly trust: TrustState;
  private listener: CredentialsListener = () => undefined;

  constructor(
    readonly kv: KvStateMachine,
    private readonly options: TrustContext,
  ) {
    // No member is known before the first configuration entry: a removal always shows as a
    // configuration that drops a member an earlier entry named (the joint entry names the
    // outgoing voters), so what is revoked depends on the log alone, never on the bootstrap.
    this.trust = new TrustState(options, []);
  }

  /** Sets the listener of credential changes (one; a later call replaces it). */
  onCredentialsChanged(listener: CredentialsListener): void {
    this.listener = listener;
  }

  apply(entry: LogEntry, answered = true): Uint8Array {
    if (entry.type === 'config') {
      const result = this.kv.apply(entry);
      const next = decodeConfiguration(entry.command);
      if (next !== null) this.notify(this.trust.applyConfiguration(next));
      return result;
    }
    if (entry.type !== 'command') return this.kv.apply(entry);
    let admin = null;
    // One Buffer view of the command for both scans (every replica makes them for every command it applies).
    const view = bufferOf(entry.command);
    try {
      // A cheap scan first: most commands are KV commands that do not even contain the marker.
      if (view.includes(ADMIN_MARKER)) admin = decodeAdminEntry(entry.command);
    } catch (error) {
      if (!(error instanceof SerializationError)) throw error;
      return this.refuse(entry, error.message);
    }
    if (admin !== null) {
      this.kv.apply({ ...entry, type: 'noop', command: NOOP });
      const outcome = this.applyAdmin(admin.envelope, admin.timeMs);
      if (outcome.ok) this.notify(outcome.changed);
      return encodeAdminApplyResult(outcome.ok ? { ok: true } : outcome);
    }
    const reserved = reservedKeyOf(entry.command, view);
    if (reserved !== null) {
      this.kv.apply({ ...entry, type: 'noop', command: NOOP });
      return encodeKvResult({
        type: 'error',
        code: 'KV_RESERVED_KEY',
        message: `keys under ${SYSTEM_KEY_PREFIX} change only through signed admin commands`,
      });
    }
    const result = this.kv.apply(entry, answered);
    this.trust.advanceClock(this.kv.clockMs);
    return result;
  }

  private applyAdmin(envelope: Uint8Array, timeMs: number): AdminOutcome {
    let command;
    try {
      command = decodeSignedAdmin(envelope);
    } catch (error) {
      if (!(error instanceof SerializationError)) throw error;
      this.trust.advanceClock(timeMs);
      return { ok: false, reason: error.message };
    }
    if (!isLoggedOperation(command.body)) {
      this.trust.advanceClock(timeMs);
      return { ok: false, reason: `${command.body.op} is not a log operation` };
    }
    return this.trust.applyAdmin(command, Math.max(timeMs, this.kv.clockMs));
  }

  private refuse(entry: LogEntry, reason: string): Uint8Array {
    this.kv.apply({ ...entry, type: 'noop', command: NOOP });
    return encodeAdminApplyResult({ ok: false, reason });
  }

  private notify(ids: readonly NodeId[] | 'all'): void {
    if (ids !== 'all' && ids.length === 0) return;
    this.listener(ids);
  }

  /** Answers a query: {@link APPLIED_INDEX_QUERY} with this replica's applied index, any other from the KV state. */
  query(query: Uint8Array): Uint8Array {
    if (Buffer.from(query.buffer, query.byteOffset, query.byteLength).equals(APPLIED_INDEX_QUERY))
      return encodeAppliedIndex(this.kv.lastApplied);
    return this.kv.query(query);
  }

  snapshot(): Uint8Array {
    return encodeNodeStateParts(this.kv.snapshotParts(), encodeTrustImage(this.trust.image()));
  }

  /** The node state of this moment, encoded later a chunk at a time: {@link snapshot}'s bytes (trust-codec.ts). */
  captureSnapshot(): SnapshotEncoder {
    return new NodeStateChunks(this.kv.snapshotSource(), encodeTrustImage(this.trust.image()));
  }

  /**
   * Restores a snapshot: a node state (KV and trust), or, from a node that predates the trust
   * layer, a KV image alone (the trust state then starts from the snapshot's configuration).
   */
  restore(meta: SnapshotMeta, data: Uint8Array): void {
    const split = data.byteLength === 0 ? null : decodeNodeState(data);
    const trust = split === null ? null : decodeTrustImage(split.trust);
    this.kv.restore(meta, split === null ? data : split.kv);
    this.restoredTrust(meta, trust);
  }

  /**
   * As restore, of an image read from storage a range at a time (StateMachine.restoreFrom): the KV
   * image in place (KvStateMachine.restoreFrom), the trust image a copy (splitStoredNodeState).
   */
  restoreFrom(meta: SnapshotMeta, image: StoredImage): void {
    const split = splitStoredNodeState(image);
    if (split === null) {
      const data = new Uint8Array(image.byteLength);
      image.copyTo(0, data);
      this.restore(meta, data);
      return;
    }
    const trust = decodeTrustImage(split.trust);
    this.kv.restoreFrom(meta, split.kv);
    this.restoredTrust(meta, trust);
  }

  /** The trust state of a restored snapshot: `trust`, or for a KV image alone, one from its configuration. */
  private restoredTrust(meta: SnapshotMeta, trust: TrustImage | null): void {
    const fresh = new TrustState(this.options, allMembers(meta.configuration));
    this.trust.load(trust ?? fresh.image());
    this.trust.advanceClock(this.kv.clockMs);
    this.notify('all');
  }
}

/** `bytes` as a Buffer: itself when it is one, else a view of the same memory. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The first reserved key a KV command names (a transaction names several), or null (not a KV
 * command, or ordinary keys only); `view`: the command as a Buffer, when the caller has one.
 */
export function reservedKeyOf(command: Uint8Array, view: Buffer = bufferOf(command)): string | null {
  if (!view.includes(RESERVED_MARKER)) return null;
  try {
    return operationKeys(decodeKvCommand(command)).find(isSystemKey) ?? null;
  } catch (error) {
    if (error instanceof SerializationError) return null;
    throw error;
  }
}
