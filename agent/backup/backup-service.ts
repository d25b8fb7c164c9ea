/**
 * Backups on a live node (`coraft backup`, the endpoint's /backup resources). A backup is a
 * signed admin command naming this node; the node
 *
 * 1. checks it (signature, cluster, expiry, replay: as a snapshot command, agent/runtime/admin.ts);
 * 2. asks the leader, as a linearizable read (ReadIndex, Raft thesis §6.4), for the index it has
 *    applied: at least the index of every write acknowledged before the backup began;
 * 3. waits until it has applied that index itself, and freezes its state machine at the index
 *    it has applied then (backup-stream.ts `freezeState`): the state after every entry up to
 *    it, and no other, since entries are applied without yielding;
 * 4. hands the file out a chunk at a time (BackupStream) to the client that started it.
 *
 * The copy comes from the state machine's own snapshot encoding of a consistent point rather
 * than from the persisted snapshot plus the log: the state machine already holds the state, a
 * frozen view of it costs two pointers per key, and the image then is exactly the state at one
 * index, whatever the state machine holds (leases included) — while the log after the last
 * snapshot may still sit in the WAL, not in LMDB, and would carry admin entries signed for the
 * old cluster that a restore would have to replay.
 *
 * Limits: at most `transfersMax` backups in progress, each forgotten after `idleMs` without a
 * request (the frozen view then goes); a transfer answers only the client (address, port,
 * identity) that began it, and only the chunk it produced last or the next one.
 */
import { randomBytes } from 'node:crypto';
import type { Timers, TimerHandle } from '../../contracts/clock.js';
import { ForbiddenError, ProposalError, SerializationError, TimeoutError } from '../../contracts/errors.js';
import type { NodeId, Term } from '../../contracts/log.js';
import type { AdminAuthority } from '../runtime/admin.js';
import { admissionProblem, decodeSignedAdmin } from '../trust/admin-command.js';
import { APPLIED_INDEX_QUERY, decodeAppliedIndex, type TrustedStateMachine } from '../trust/trusted-state-machine.js';
import type { BackupHeader } from './backup-format.js';
import { BackupStream, freezeState } from './backup-stream.js';

/** Limits of the backups of one node. */
export interface BackupOptions {
  /** Bytes of file per chunk (one GET, served in Block2 blocks). Default 65,536; 1,024..524,288. */
  readonly chunkBytes: number;
  /** Backups in progress at once. Default 2; 1..16. */
  readonly transfersMax: number;
  /** A backup without a request for this long is forgotten, ms. Default 60,000; 1,000..3,600,000. */
  readonly idleMs: number;
  /** How often the node checks whether it applied the read index, ms. Default 10; 1..1,000. */
  readonly pollMs: number;
  /**
   * How long the linearizable read (step 2) may wait for a leader, ms: as long as a key-value
   * read's (the endpoint's requestTimeoutMs), so that a cluster without a quorum answers 5.03
   * 'no leader is known' well before the client gives up on an endpoint that seems dead. The
   * rest of the command's time is for this node to catch up. Default 5,000; 100..600,000.
   */
  readonly leaderWaitMs: number;
}

/** The defaults of {@link BackupOptions}. */
export const DEFAULT_BACKUP_OPTIONS: BackupOptions = {
  chunkBytes: 65_536,
  transfersMax: 2,
  idleMs: 60_000,
  pollMs: 10,
  leaderWaitMs: 5000,
};

/** What backups need of the node. */
export interface BackupDeps {
  readonly nodeId: NodeId;
  /** Runs a linearizable read on the leader (NodeApi.readAnywhere). */
  readAnywhere(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  readonly stateMachine: TrustedStateMachine;
  /** The term of the entry at `index` in this node's log or snapshot. */
  termAt(index: number): Term | null;
  /** The cluster and admin key; null: admin operations are disabled. */
  readonly authority: AdminAuthority | null;
  readonly timers: Timers;
  readonly wallClockMs: () => number;
}

/** A backup that began: its id (for the chunk requests) and the file's header. */
export interface BackupBegun {
  readonly id: string;
  readonly header: BackupHeader;
}

/** What a chunk request gets. */
export type ChunkOutcome =
  | { readonly kind: 'chunk'; readonly bytes: Uint8Array }
  | { readonly kind: 'end' }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'out-of-order'; readonly expected: number };

interface Transfer {
  readonly owner: string;
  /** Null once the trailer was handed out. */
  stream: BackupStream | null;
  next: number;
  last: { readonly n: number; readonly bytes: Uint8Array } | null;
  timer: TimerHandle;
}

/** Most nonces of backup commands remembered against replay. */
const RECENT_NONCES_MAX = 1024;

/** The backups of one node; see the module comment. */
export class BackupService {
  private readonly options: BackupOptions;
  /** Invariant: at most transfersMax of them hold a stream. */
  private readonly transfers = new Map<string, Transfer>();
  /** Nonces of accepted backup commands and their expiry. Invariant: size <= RECENT_NONCES_MAX. */
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly deps: BackupDeps,
    options: Partial<BackupOptions> = {},
  ) {
    this.options = { ...DEFAULT_BACKUP_OPTIONS, ...options };
    const o = this.options;
    if (!Number.isSafeInteger(o.chunkBytes) || o.chunkBytes < 1024 || o.chunkBytes > 512 * 1024)
      throw new RangeError('chunkBytes must be 1,024..524,288');
    if (!Number.isSafeInteger(o.transfersMax) || o.transfersMax < 1 || o.transfersMax > 16)
      throw new RangeError('transfersMax must be 1..16');
    if (!Number.isSafeInteger(o.idleMs) || o.idleMs < 1000 || o.idleMs > 3_600_000)
      throw new RangeError('idleMs must be 1,000..3,600,000');
    if (!Number.isSafeInteger(o.pollMs) || o.pollMs < 1 || o.pollMs > 1000)
      throw new RangeError('pollMs must be 1..1,000');
    if (!Number.isSafeInteger(o.leaderWaitMs) || o.leaderWaitMs < 100 || o.leaderWaitMs > 600_000)
      throw new RangeError('leaderWaitMs must be 100..600,000');
  }

  /** Backups in progress (holding a frozen state). */
  get active(): number {
    let count = 0;
    for (const transfer of this.transfers.values()) if (transfer.stream !== null) count += 1;
    return count;
  }

  /** Checks a signed backup command and freezes the state at a linearizable point; see the module comment. */
  async begin(envelope: Uint8Array, owner: string, timeoutMs: number): Promise<BackupBegun> {
    const nonce = this.admit(envelope);
    if (this.active >= this.options.transfersMax)
      throw new ProposalError('RAFT_BUSY', `${this.options.transfersMax} backups are in progress; retry later`);
    const deadline = this.deps.timers.nowMs() + timeoutMs;
    this.recent.set(nonce.value, nonce.expiresAtMs);
    const leaderWaitMs = Math.min(timeoutMs, this.options.leaderWaitMs);
    const target = decodeAppliedIndex(await this.deps.readAnywhere(APPLIED_INDEX_QUERY, leaderWaitMs));
    await this.waitForApplied(target, deadline);
    if (this.active >= this.options.transfersMax)
      throw new ProposalError('RAFT_BUSY', `${this.options.transfersMax} backups are in progress; retry later`);
    const state = freezeState(this.deps.stateMachine);
    const term = this.deps.termAt(state.index);
    if (term === null) throw new TimeoutError(`the term of index ${state.index} is not known here; retry`);
    const header: BackupHeader = {
      cluster: this.deps.authority?.cluster ?? '',
      node: this.deps.nodeId,
      index: state.index,
      term,
      revision: state.revision,
      keyCount: state.keyCount,
      dataBytes: state.dataBytes,
      createdAtMs: Math.floor(this.deps.wallClockMs()),
    };
    const id = randomBytes(16).toString('hex');
    this.transfers.set(id, {
      owner,
      stream: new BackupStream(header, state, this.options.chunkBytes),
      next: 0,
      last: null,
      timer: this.expiry(id),
    });
    return { id, header };
  }

  /** Chunk `n` of backup `id` for the client `owner`: the next one, or the last one again. */
  chunk(id: string, n: number, owner: string): ChunkOutcome {
    const transfer = this.transfers.get(id);
    if (transfer === undefined || transfer.owner !== owner) return { kind: 'unknown' };
    transfer.timer.cancel();
    transfer.timer = this.expiry(id);
    if (transfer.last?.n === n) return { kind: 'chunk', bytes: transfer.last.bytes };
    if (n !== transfer.next) return { kind: 'out-of-order', expected: transfer.next };
    const bytes = transfer.stream?.next() ?? null;
    if (bytes === null) {
      // The trailer went out with the last chunk: the frozen state can go.
      transfer.stream = null;
      transfer.last = null;
      return { kind: 'end' };
    }
    transfer.last = { n, bytes };
    transfer.next = n + 1;
    return { kind: 'chunk', bytes };
  }

  /** Forgets every backup (the node stops). */
  clear(): void {
    for (const transfer of this.transfers.values()) transfer.timer.cancel();
    this.transfers.clear();
  }

  private expiry(id: string): TimerHandle {
    return this.deps.timers.setTimer(this.options.idleMs, () => this.transfers.delete(id));
  }

  /** Checks the command; returns its nonce. Throws ForbiddenError with the reason. */
  private admit(envelope: Uint8Array): { readonly value: string; readonly expiresAtMs: number } {
    const authority = this.deps.authority;
    if (authority === null)
      throw new ForbiddenError('admin operations are disabled on this node (no admin public key in its configuration)');
    let command;
    try {
      command = decodeSignedAdmin(envelope);
    } catch (error) {
      if (error instanceof SerializationError) throw new ForbiddenError(`refused admin command: ${error.message}`);
      throw error;
    }
    const body = command.body;
    if (body.op !== 'backup') throw new ForbiddenError(`expected a signed backup command, got ${body.op}`);
    if (body.node !== this.deps.nodeId)
      throw new ForbiddenError(`the backup command names ${body.node}, not this node`);
    const now = this.deps.wallClockMs();
    const problem = admissionProblem(command, authority.cluster, authority.adminKey(), now);
    if (problem !== null) throw new ForbiddenError(`refused admin command: ${problem}`);
    for (const [nonce, expires] of this.recent) if (expires <= now) this.recent.delete(nonce);
    if (this.recent.has(body.nonce) || authority.nonceSeen(body.nonce))
      throw new ForbiddenError('refused admin command: it was used already (replayed nonce)');
    if (this.recent.size >= RECENT_NONCES_MAX)
      throw new ForbiddenError(`refused admin command: ${RECENT_NONCES_MAX} recent backups are unexpired; retry later`);
    return { value: body.nonce, expiresAtMs: body.expiresAtMs };
  }

  private async waitForApplied(index: number, deadlineMs: number): Promise<void> {
    const timers = this.deps.timers;
    while (this.deps.stateMachine.kv.lastApplied < index) {
      if (timers.nowMs() >= deadlineMs)
        throw new TimeoutError(`this node did not apply index ${index} in time (it lags the leader); retry`);
      await new Promise<void>((resolve) => timers.setTimer(this.options.pollMs, resolve));
    }
  }
}
