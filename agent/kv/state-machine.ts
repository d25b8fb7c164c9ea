/**
 * The replicated key-value state machine: put, delete, compare-and-set on a key's revision and
 * get, with client sessions for exactly-once commands (Raft thesis §6.3) and limits on every
 * map. Deterministic: it reads no clock and no randomness, and equal logs give equal results
 * and byte-identical snapshots on every replica.
 *
 * A command that does not decode or breaks a limit yields an error result; apply never throws
 * for anything a client can put in the log. It throws InvariantError only for a bug of its
 * caller (an entry out of order) or of its own.
 */
import type { LogEntry, LogIndex, SnapshotMeta } from '../../contracts/log.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { SnapshotEncoder, StateMachine } from '../../contracts/state-machine.js';
import type { StoredImage } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import { SerializationError } from '../../contracts/errors.js';
import { decodeKvCommand, decodeKvQuery, encodeKvResult } from './encoding.js';
import { executeGet, executeList, executeOperation, LIST_BYTES_MAX, LIST_ITEMS_MAX } from './execute.js';
import { resolveKvOptions, type KvOptions } from './options.js';
import { RequestIdTable } from './request-ids.js';
import { SessionTable, retainedBytes, type RunResult } from './sessions.js';
import { decodeKvSnapshot, emptyKvSnapshotImage, kvSnapshotParts } from './snapshot.js';
import { decodeStoredKvSnapshot } from './stored-snapshot.js';
import type { KvSnapshotImage } from './snapshot-image.js';
import type { KvSnapshotParts, KvSnapshotSource } from './snapshot.js';
import { encodeKvSnapshotParts } from './snapshot-bytes.js';
import { kvSnapshotChunks } from './snapshot-stream.js';
import type { KvSnapshotTail } from './snapshot-tail.js';
import { KvStore, utf8Length } from './store.js';
import { changeEvent, changesOf, KvHistory, restoredChanges } from './history.js';
import { executeLease, isLeaseOperation, leaseResult } from './lease-ops.js';
import type { KvLease } from './leases.js';
import { decodeQuotaCommand } from './quota.js';
import { PutAnswer } from './put-result.js';
import type { KvStats } from './stats.js';
import type { KvChangesQuery, KvCommand, KvErrorCode, KvResult, KvSession, KvVersioned } from './types.js';

/** What the state machine may report to. */
export interface KvStateMachineDeps {
  /** Counts errors, duplicates, expiries and evictions; null for none. */
  readonly metrics: Metrics | null;
}

const EMPTY = new Uint8Array(0);

/** The KV store as a Raft state machine. */
export class KvStateMachine implements StateMachine {
  private readonly options: KvOptions;
  private readonly metrics: Metrics | null;
  private readonly store: KvStore;
  private readonly sessions: SessionTable;
  private readonly requestIds: RequestIdTable;
  private readonly history: KvHistory;
  /** Invariant: the index of the last entry applied or restored; entries arrive at lastApplied + 1. */
  private lastAppliedIndex: LogIndex = 0;
  /** Invariant: the largest timeMs of any command applied (or restored); never decreases. */
  private logClockMs = 0;
  /** The quota's NOSPACE alarm: raised by a refused write, cleared by one that shrinks the store or sets the quota. */
  private quotaAlarmValue = false;

  /** Throws ConfigError naming every bad option. */
  constructor(options: Partial<KvOptions> = {}, deps: KvStateMachineDeps = { metrics: null }) {
    this.options = resolveKvOptions(options);
    this.metrics = deps.metrics;
    this.store = new KvStore(this.options);
    this.history = new KvHistory(this.options);
    this.requestIds = new RequestIdTable({ countMax: this.options.requestIdsMax, ttlMs: this.options.requestIdTtlMs });
    this.sessions = SessionTable.sizedBy(this.options);
  }

  /** The index of the last entry applied (or covered by the snapshot restored). */
  get lastApplied(): LogIndex {
    return this.lastAppliedIndex;
  }

  /** The log clock: the largest command timestamp applied, ms. */
  get clockMs(): number {
    return this.logClockMs;
  }

  /** Sizes of the state. */
  stats(): KvStats {
    return {
      lastApplied: this.lastAppliedIndex,
      clockMs: this.logClockMs,
      keyCount: this.store.keyCount,
      dataBytes: this.store.dataBytes,
      sessionCount: this.sessions.size,
      sessionBytes: this.sessions.bytes,
      requestIdCount: this.requestIds.size,
      leaseCount: this.store.leases.size,
      usageBytes: this.store.usageBytes,
      quotaBytes: this.store.quotaBytes,
      quotaAlarm: this.quotaAlarmValue,
    };
  }

  /** The store revision: the log index of the last entry that changed a key (0 before any). */
  get revision(): number {
    return this.store.revision;
  }

  /** Every lease granted, by increasing id (for the leader's countdown, lease-keeper.ts). */
  leases(): readonly KvLease[] {
    return this.store.leases.list();
  }

  /** Changes whenever a lease is granted, kept alive or ended, or a snapshot is restored (runtime only). */
  get leaseVersion(): number {
    return this.store.leases.version;
  }

  /** Calls `listener` after each such change (leases.ts LeaseTable.onChange); returns its removal. */
  onLeaseChange(listener: () => void): () => void {
    return this.store.leases.onChange(listener);
  }

  /** Reads `key` from local state, for embedding applications and tests. */
  read(key: string): KvVersioned | null {
    return this.store.get(key);
  }

  /**
   * Applies a committed entry. Entries must arrive in log order, each at lastApplied + 1. `noop` and `config`
   * entries only advance lastApplied and return empty bytes; a `command` entry returns an encoded KvResult.
   * Unless `answered` (StateMachine.apply): then a result other than an error is not encoded (empty bytes), and a
   * session keeps a put's answer unencoded (put-result.ts PutAnswer), to encode it only for a retry or a snapshot.
   */
  apply(entry: LogEntry, answered = true): Uint8Array {
    assert(Number.isSafeInteger(entry.index), 'entry index is a safe integer');
    assert(
      entry.index === this.lastAppliedIndex + 1,
      `entry ${entry.index} follows lastApplied ${this.lastAppliedIndex}`,
    );
    this.lastAppliedIndex = entry.index;
    if (entry.type !== 'command') return EMPTY;
    let command: KvCommand;
    try {
      const quota = decodeQuotaCommand(entry.command);
      if (quota !== null) return this.applyQuota(quota);
      command = decodeKvCommand(entry.command);
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      return this.errorResult('KV_MALFORMED', error.message);
    }
    this.logClockMs = Math.max(this.logClockMs, command.timeMs);
    this.countRemovals('sessions_expired', this.sessions.expire(this.logClockMs));
    this.countRemovals('request_ids_expired', this.requestIds.expire(this.logClockMs));
    if (command.session === null) {
      const result = this.execute(command, entry.index);
      return answered || result.type === 'error' ? this.encode(result) : EMPTY;
    }
    return this.applyInSession(command, command.session, entry.index, answered);
  }

  private applyInSession(command: KvCommand, session: KvSession, index: LogIndex, answered: boolean): Uint8Array {
    const { clientId, seq } = session;
    const clientIdBytes = utf8Length(clientId);
    if (clientIdBytes > this.options.clientIdBytesMax) {
      return this.errorResult(
        'KV_CLIENT_ID_TOO_LONG',
        `client id is ${clientIdBytes} bytes; clientIdBytesMax is ${this.options.clientIdBytesMax}`,
      );
    }
    const outcome = this.sessions.apply(clientId, seq, session.ackedBelow ?? seq, this.logClockMs, () =>
      this.run(command, session, index, answered),
    );
    switch (outcome.kind) {
      case 'ran':
        this.countRemovals('sessions_evicted', outcome.evicted);
        return outcome.response;
      case 'duplicate':
        this.metrics?.increment('kv_duplicate_commands_total');
        return outcome.response;
      case 'stale':
        return this.errorResult(
          'KV_STALE_SEQUENCE',
          `sequence ${seq} is below the session's floor, ${outcome.floor}; it was not run now`,
        );
      case 'expired':
        return this.errorResult(
          'KV_SESSION_EXPIRED',
          `no session for this client (expired or evicted); sequence ${seq} was not run`,
        );
    }
  }

  /**
   * Runs a command of a session once the session table decided it must run: unless its request id shows that the
   * request ran before (a retransmission that reached a restarted endpoint), in which case the first response is
   * returned and nothing runs. Gives the response and the one to keep for a retry.
   */
  private run(command: KvCommand, session: KvSession, index: LogIndex, answered: boolean): RunResult {
    const requestId = command.requestId;
    const claimed =
      requestId === undefined
        ? undefined
        : this.requestIds.claim(requestId, session.clientId, session.seq, this.logClockMs);
    const earlier = claimed?.earlier;
    if (earlier !== undefined) {
      this.metrics?.increment('kv_duplicate_requests_total');
      const kept =
        this.sessions.responseOf(earlier.clientId, earlier.seq) ??
        this.encode({
          type: 'error',
          code: 'KV_RESPONSE_NOT_RETAINED',
          message:
            `this request was applied before (sequence ${earlier.seq} of another session); its response is ` +
            `no longer kept`,
        });
      return { response: kept, retained: kept };
    }
    if (claimed !== undefined) this.countRemovals('request_ids_evicted', claimed.evicted);
    const result = this.execute(command, index);
    // What encode() would give, kept unencoded when no one waits: every replica keeps the same bytes.
    const unencoded = answered ? null : PutAnswer.ofResult(result, this.store.revision);
    if (unencoded !== null && unencoded.byteLength <= this.options.cachedResponseBytesMax)
      return { response: EMPTY, retained: unencoded };
    const response = this.encode(result);
    if (response.length <= this.options.cachedResponseBytesMax) return { response, retained: retainedBytes(response) };
    const retained = encodeKvResult({
      type: 'error',
      code: 'KV_RESPONSE_NOT_RETAINED',
      message:
        `sequence ${session.seq} was applied at index ${index}; its ${response.length}-byte response ` +
        `exceeded cachedResponseBytesMax`,
    });
    return { response, retained };
  }

  /** Sets the cluster's quota (a quota command, quota.ts); the alarm clears until a write is refused again. */
  private applyQuota(quotaBytes: number): Uint8Array {
    this.store.setQuota(quotaBytes);
    this.quotaAlarmValue = false;
    this.reportQuota();
    return EMPTY;
  }

  /** Runs a command's operation, records its changes in the history, raises or clears the quota alarm. */
  private execute(command: KvCommand, index: LogIndex): KvResult {
    const usageBefore = this.store.usageBytes;
    const result = this.executeRecorded(command, index);
    const refused = result.type === 'error' && result.code === 'KV_QUOTA_EXCEEDED';
    const alarm = refused || (this.store.usageBytes >= usageBefore && this.quotaAlarmValue);
    if (alarm !== this.quotaAlarmValue || usageBefore !== this.store.usageBytes) {
      this.quotaAlarmValue = alarm;
      this.reportQuota();
    }
    return result;
  }

  /** Runs a command's operation (a lease one through lease-ops.ts) and records its changes in the history. */
  private executeRecorded(command: KvCommand, index: LogIndex): KvResult {
    if (!isLeaseOperation(command)) {
      const result = executeOperation(this.store, command, index);
      this.history.record(index, changesOf(command, result, index));
      return result;
    }
    const { result, changes } = executeLease(this.store, command, index);
    this.history.record(index, changes);
    if (result.type === 'lease-end' && result.ended && command.op === 'lease-expire')
      this.metrics?.increment('kv_leases_expired_total');
    return result;
  }

  /** Sets the quota gauges: the size counted, the quota, and the alarm (1 while raised). */
  private reportQuota(): void {
    this.metrics?.setGauge('kv_quota_usage_bytes', this.store.usageBytes);
    this.metrics?.setGauge('kv_quota_bytes', this.store.quotaBytes);
    this.metrics?.setGauge('kv_alarm', this.quotaAlarmValue ? 1 : 0, { alarm: 'NOSPACE' });
  }

  /** The changes after `since` to the keys a changes query names, from the history window. */
  private changes(query: KvChangesQuery): KvResult {
    const matches = (key: string): boolean => (query.exact ? key === query.prefix : key.startsWith(query.prefix));
    const bytesMax = Math.min(query.bytesMax ?? LIST_BYTES_MAX, LIST_BYTES_MAX);
    const read = this.history.read(query.since, matches, Math.min(query.limit, LIST_ITEMS_MAX), bytesMax);
    if (read.kind === 'compacted')
      return { type: 'error', code: 'KV_COMPACTED', message: `compacted: oldest revision ${read.oldest}` };
    return { type: 'changes', events: read.changes.map(changeEvent), more: read.more };
  }

  /** Answers a query from local state; a query that does not decode yields an error result. */
  query(query: Uint8Array): Uint8Array {
    try {
      const decoded = decodeKvQuery(query);
      if (decoded.op === 'changes') return this.encode(this.changes(decoded));
      if (decoded.op === 'lease') return this.encode(leaseResult(this.store, decoded.id, LIST_ITEMS_MAX));
      return this.encode(decoded.op === 'get' ? executeGet(this.store, decoded.key) : executeList(this.store, decoded));
    } catch (error: unknown) {
      if (!(error instanceof SerializationError)) throw error;
      return this.errorResult('KV_MALFORMED', error.message);
    }
  }

  /** The whole state (keys, sessions, log clock, lastApplied) as deterministic bytes (encodeKvSnapshot's). */
  snapshot(): Uint8Array {
    return encodeKvSnapshotParts(this.snapshotParts());
  }

  /** The state of this moment, encoded later a chunk at a time (snapshot-stream.ts): {@link snapshot}'s bytes. */
  captureSnapshot(): SnapshotEncoder {
    return kvSnapshotChunks(this.snapshotSource());
  }

  /** The state of this moment, nothing encoded: lists of values that no later apply changes (captureSnapshot). */
  snapshotSource(): KvSnapshotSource {
    return { ...this.snapshotFields(), entries: this.store.entryColumns() };
  }

  /** The state of this moment as {@link snapshot} encodes it, in parts (snapshot.ts), the keys a frozen view. */
  snapshotParts(): KvSnapshotParts {
    return kvSnapshotParts(this.snapshotSource());
  }

  /** Everything a snapshot holds but the keys. */
  private snapshotFields(): KvSnapshotTail {
    return {
      lastApplied: this.lastAppliedIndex,
      clockMs: this.logClockMs,
      sessions: this.sessions.list(),
      requestIds: this.requestIds.columns(),
      storeRevision: this.store.revision,
      historyCompacted: this.history.compactedRevision,
      history: this.history.list(),
      quotaBytes: this.store.quotaBytes,
      quotaAlarm: this.quotaAlarmValue,
      leases: this.store.leases.list(),
    };
  }

  /**
   * Replaces the whole state with a snapshot's (empty `data`: the empty state at meta.lastIncludedIndex). Throws
   * SerializationError when `data` is not a valid image or its index differs from `meta`, leaving the state as it was.
   */
  restore(meta: SnapshotMeta, data: Uint8Array): void {
    this.load(meta, data.length === 0 ? emptyKvSnapshotImage(meta.lastIncludedIndex) : decodeKvSnapshot(data), data);
  }

  /** As restore, of an image read a window at a time; the current state is dropped first (decodeStoredKvSnapshot). */
  restoreFrom(meta: SnapshotMeta, image: StoredImage): void {
    this.restore(meta, EMPTY);
    if (image.byteLength === 0) return;
    const read = decodeStoredKvSnapshot(image);
    this.load(meta, read.image, read.data, read.owned);
  }

  /** Replaces the whole state with `image`, decoded from `data` (`owned`: its byte strings are copies of their own). */
  private load(meta: SnapshotMeta, image: KvSnapshotImage, data: Uint8Array, owned = false): void {
    if (image.lastApplied !== meta.lastIncludedIndex) {
      throw new SerializationError(
        'CODEC_MALFORMED',
        `snapshot image is at index ${image.lastApplied}, its metadata at ${meta.lastIncludedIndex}`,
      );
    }
    this.store.loadSnapshot(image.entries, image.leases, owned);
    this.store.restoreRevision(image.storeRevision);
    this.store.setQuota(image.quotaBytes);
    this.quotaAlarmValue = image.quotaAlarm;
    this.history.load(
      image.historyCompacted,
      restoredChanges(image.history, (key) => this.store.get(key), data),
    );
    this.sessions.load(image.sessions);
    this.requestIds.load(image.requestIds);
    this.lastAppliedIndex = image.lastApplied;
    this.logClockMs = image.clockMs;
    this.checkInvariants();
    this.reportQuota();
  }

  /** Checks every invariant of the state; throws InvariantError on the first broken one. */
  checkInvariants(): void {
    this.sessions.checkInvariants(this.logClockMs);
    this.requestIds.checkInvariants(this.logClockMs);
    this.store.checkInvariants(this.lastAppliedIndex);
    this.history.checkInvariants(this.store.revision);
  }

  /** Encodes a result; every result but an error carries the store revision as it is now. */
  private encode(result: KvResult): Uint8Array {
    if (result.type === 'error') {
      this.metrics?.increment('kv_command_errors_total', 1, { code: result.code });
      return encodeKvResult(result);
    }
    return encodeKvResult(result, this.store.revision);
  }

  private errorResult(code: KvErrorCode, message: string): Uint8Array {
    return this.encode({ type: 'error', code, message });
  }

  private countRemovals(
    kind: 'sessions_expired' | 'sessions_evicted' | 'request_ids_expired' | 'request_ids_evicted',
    count: number,
  ): void {
    if (count > 0) this.metrics?.increment(`kv_${kind}_total`, count);
  }
}
